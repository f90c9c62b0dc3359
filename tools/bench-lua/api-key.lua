-- The `native-lua-api-key` row of tools/bench.py: Envoy's Lua filter doing
-- what meshwasm auth's API-key check does. A request without a known
-- `x-api-key` gets 401; otherwise the key is removed and the consumer's name
-- goes upstream in `x-meshwasm-consumer` (the client's own copy is removed
-- first). The keys are the ones tools/bench.py gives meshwasm auth.
local consumers = {
  ["alice-bench-key-7f3a9c"] = "alice",
  ["bob-bench-key-52e1d8"] = "bob",
  ["carol-bench-key-0b6f44"] = "carol",
  ["dave-bench-key-9d2c17"] = "dave",
}

function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove("x-meshwasm-consumer")
  local consumer = consumers[headers:get("x-api-key") or ""]
  if consumer == nil then
    handle:respond({
      [":status"] = "401",
      ["www-authenticate"] = 'ApiKey realm="meshwasm", header="x-api-key"',
      ["content-type"] = "application/json",
    }, '{"error":"unauthorized","message":"missing or unknown API key"}')
    return
  end
  headers:remove("x-api-key")
  headers:add("x-meshwasm-consumer", consumer)
end
