//! A minimal HTTP/1.1 client that sends the request target byte for byte: reqwest (like every
//! URL library) normalises paths itself (`..`, `\`, `//`), which would hide exactly the forms
//! the path tests send (issue 16). One request per connection (`connection: close`), the reply
//! read to the end, chunked bodies decoded.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stack::RawReply;

/// `method target HTTP/1.1` to 127.0.0.1:`port` with `headers` and `body`.
pub async fn send(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<RawReply> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        // Envoy may answer (400) and close before it read the body: a failed write is not the
        // end, the answer may be there to read.
        let _ = stream.write_all(&request).await;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // a reset after the answer arrived (unread request bytes on Envoy's side)
                Err(_) if !raw.is_empty() => break,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .context("raw HTTP request timed out")??;
    parse(&raw)
}

fn parse(raw: &[u8]) -> anyhow::Result<RawReply> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the response head")?;
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            bail!("bad header line {line:?}");
        };
        headers.append(
            HeaderName::from_bytes(k.trim().as_bytes())?,
            HeaderValue::from_str(v.trim())?,
        );
    }
    let body = &raw[end + 4..];
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let bytes = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(RawReply {
        status,
        headers,
        bytes,
    })
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = std::str::from_utf8(&body[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}
