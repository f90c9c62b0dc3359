#!/usr/bin/env python3
"""Sends one HTTP/2 request (prior knowledge, cleartext) with header bytes
exactly as given, for the e2e tests' hostile requests, and prints the answer
as JSON: {"status": 200, "headers": {...}, "body": "..."} or {"reset": code}.

Usage: h2-send.py HOST PORT < request.json, where request.json is
{"headers": [[name_hex, value_hex], ...]} (pseudo-headers first).
Only loopback addresses are accepted."""

import json
import socket
import sys

import h2.config
import h2.connection
import h2.events


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        sys.exit("h2-send.py: loopback only")
    request = json.load(sys.stdin)
    headers = [(bytes.fromhex(n), bytes.fromhex(v)) for n, v in request["headers"]]
    config = h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False,
        validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    sock = socket.create_connection((host, port), timeout=20)
    conn.initiate_connection()
    conn.send_headers(1, headers, end_stream=True)
    sock.sendall(conn.data_to_send())
    answer = {"status": None, "headers": {}, "body": ""}
    body = b""
    done = False
    while not done:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                for name, value in event.headers:
                    name, value = name.decode("latin-1"), value.decode("latin-1")
                    if name == ":status":
                        answer["status"] = int(value)
                    else:
                        old = answer["headers"].get(name)
                        answer["headers"][name] = value if old is None else old + ", " + value
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done = True
            elif isinstance(event, h2.events.StreamReset):
                answer["reset"] = int(event.error_code)
                done = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                answer["goaway"] = int(event.error_code)
                done = True
        sock.sendall(conn.data_to_send())
    sock.close()
    answer["body"] = body.decode("utf-8", "replace")
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
