//! Just enough HTTP/1.1 for the echo service: requests with a
//! `content-length` or chunked body, responses with a `content-length`,
//! keep-alive.

use crate::{Received, Reply};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};

/// The largest request body kept; the rest is read and dropped.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest request line or header line accepted.
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// The most header lines accepted.
const MAX_HEADERS: usize = 200;

/// Reads one request; `None` at the end of the connection or on a request
/// it cannot read. Also says whether the connection stays open.
pub(crate) fn read_request(upstream: &str, reader: &mut impl BufRead) -> Option<(Received, bool)> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..MAX_HEADERS {
        let line = read_line(reader)?;
        if line.is_empty() {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let body = read_body(reader, &headers)?;
            let connection = headers.get("connection").map(|c| c.to_ascii_lowercase());
            let keep_alive = match version {
                "HTTP/1.0" => connection.as_deref() == Some("keep-alive"),
                _ => connection.as_deref() != Some("close"),
            };
            let received = Received {
                upstream: upstream.to_owned(),
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            return Some((received, keep_alive));
        }
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        headers
            .entry(name)
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&value);
            })
            .or_insert(value);
    }
    None
}

/// One line without its CRLF, bytes that are not UTF-8 as U+FFFD (a
/// hostile test may send them through a proxy that passes them on); `None`
/// at EOF or when too long.
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut line)
        .ok()?;
    if n == 0 || line.last() != Some(&b'\n') {
        return None;
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

fn read_body(reader: &mut impl BufRead, headers: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, until the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            read_into(reader, size, &mut body)?;
            read_line(reader)?;
        }
    } else if let Some(length) = headers.get("content-length") {
        read_into(reader, length.parse().ok()?, &mut body)?;
    }
    Some(body)
}

/// Reads `n` bytes, keeping at most [`MAX_BODY_BYTES`] in all.
fn read_into(reader: &mut impl Read, n: usize, body: &mut Vec<u8>) -> Option<()> {
    let mut chunk = vec![0u8; n];
    reader.read_exact(&mut chunk).ok()?;
    let room = MAX_BODY_BYTES.saturating_sub(body.len());
    body.extend(chunk.into_iter().take(room));
    Some(())
}

/// Writes a response with `extra` headers besides the reply's own.
pub(crate) fn write_response(
    writer: &mut impl Write,
    reply: &Reply,
    extra: &[(String, String)],
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in reply.headers.iter().chain(extra) {
        if !name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\n", reply.body.len()));
    if !keep_alive {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    // One write: a head and a body in two segments would wait on Nagle's
    // algorithm and the peer's delayed ACK.
    let mut message = head.into_bytes();
    message.extend_from_slice(&reply.body);
    writer.write_all(&message)?;
    writer.flush()
}

/// An answer read by [`fetch`].
pub(crate) struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one request to `addr` on a new connection and reads the answer
/// (`connection: close`, so the answer ends with the connection).
pub(crate) fn fetch(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<Fetched> {
    use std::io::{BufReader, Error};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let _ = stream.set_nodelay(true);
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) && !value.contains(['\r', '\n'])
        {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    let mut reader = BufReader::new(stream);
    let bad = || Error::other("malformed response");
    let status_line = read_line(&mut reader).ok_or_else(bad)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let mut headers = BTreeMap::new();
    loop {
        let line = read_line(&mut reader).ok_or_else(bad)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let body =
        if headers.contains_key("transfer-encoding") || headers.contains_key("content-length") {
            read_body(&mut reader, &headers).ok_or_else(bad)?
        } else {
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest)?;
            rest
        };
    Ok(Fetched { status, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn read(raw: &str) -> Option<(Received, bool)> {
        read_request("t", &mut BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn requests_with_each_body_framing_are_read() {
        let (r, keep) = read(
            "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 5\r\n\r\nhello",
        )
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("POST", "/a", "b=1")
        );
        assert_eq!(r.header("x-a"), Some("1, 2"));
        assert_eq!((r.body.as_str(), keep), ("hello", true));
        let (r, _) = read("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, "hello");
        let (_, keep) = read("GET / HTTP/1.1\r\nconnection: close\r\n\r\n").unwrap();
        assert!(!keep);
        assert!(read("").is_none());
        assert!(read("GET / HTTP/1.1\r\nno-colon\r\n\r\n").is_none());
    }

    #[test]
    fn responses_are_framed_by_length() {
        let mut out = Vec::new();
        let reply = Reply::status(503).header("x-a", "1").body("down");
        write_response(&mut out, &reply, &[("x-b".into(), "2".into())], false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 503 Service Unavailable\r\nx-a: 1\r\nx-b: 2\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown"
        );
    }
}
