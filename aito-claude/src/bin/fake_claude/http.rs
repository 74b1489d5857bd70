//! A small blocking HTTP/1.1 client for the API mode: one request per connection, to a server
//! on this machine only (the fake never leaves it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where the API is: `http://HOST:PORT[/PREFIX]` with HOST on this machine.
#[derive(Clone, Debug)]
pub(crate) struct Base {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) prefix: String,
}

impl Base {
    /// Reads `ANTHROPIC_BASE_URL`; refuses anything that is not plain HTTP on this machine.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("fake-claude: ANTHROPIC_BASE_URL must be http:// on this machine, saw {url:?}")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse().map_err(|_| format!("bad port in {url:?}"))?,
            ),
            None => (authority, 80),
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(format!(
                "fake-claude: ANTHROPIC_BASE_URL must name this machine (127.0.0.1 or localhost), saw {url:?}"
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            prefix: path.to_owned(),
        })
    }

    /// `host:port`, as the CLI names its gateway in messages.
    pub(crate) fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub(crate) enum NetError {
    /// Nothing listens there.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// Anything else (reset, garbage).
    Other(String),
}

/// An HTTP answer.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn io_error(error: &std::io::Error) -> NetError {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => NetError::Refused,
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => NetError::Timeout,
        _ => NetError::Other(error.to_string()),
    }
}

/// Sends one request and reads the whole answer.
pub(crate) fn request(
    base: &Base,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, NetError> {
    let host = base.host.trim_start_matches('[').trim_end_matches(']');
    let mut stream = TcpStream::connect((host, base.port)).map_err(|e| io_error(&e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| io_error(&e))?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        base.prefix,
        base.authority(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| io_error(&e))?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| io_error(&e))?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| NetError::Other(format!("not an HTTP answer: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| io_error(&e))?;
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    let length: Option<usize> = response
        .header("content-length")
        .and_then(|value| value.parse().ok());
    let mut body = Vec::new();
    if method == "HEAD" {
        // No body.
    } else if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(|e| io_error(&e))?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| NetError::Other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| io_error(&e))?;
            chunk.truncate(size);
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body).map_err(|e| io_error(&e))?;
    } else {
        reader.read_to_end(&mut body).map_err(|e| io_error(&e))?;
    }
    Ok(Response { body, ..response })
}
