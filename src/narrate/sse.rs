//! A server-sent-events parser that takes the body in whatever chunks the network gives:
//! a line, a UTF-8 sequence or a `\r\n` may be split anywhere.

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Longest line accepted (bytes); a longer one is an error, not an unbounded buffer.
pub const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        let mut out = Vec::new();
        let mut bytes = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'\n' || b == b'\r' {
                self.buf.extend_from_slice(&bytes[start..i]);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, &mut out);
                if b == b'\r' {
                    if i + 1 == bytes.len() {
                        self.after_cr = true;
                    } else if bytes[i + 1] == b'\n' {
                        i += 1;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.buf.extend_from_slice(&bytes[start.min(bytes.len())..]);
        if self.buf.len() > MAX_LINE {
            return Err(format!(
                "an event-stream line is longer than {MAX_LINE} bytes"
            ));
        }
        Ok(out)
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(raw);
        if line.is_empty() {
            if self.has_data || self.event.is_some() {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data).join("\n"),
                });
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                self.data.push(value.to_string());
                self.has_data = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(body: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&body.len())) {
            let c = c.clamp(last, body.len());
            out.extend(p.push(&body[last..c]).expect("push"));
            last = c;
        }
        out
    }

    const BODY: &str = ": keep-alive\n\nevent: message_start\ndata: {\"a\":\"é\"}\n\ndata: {\"b\":1}\r\ndata: {\"c\":2}\r\n\r\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":\"é\"}".into(),
            },
            SseEvent {
                event: None,
                data: "{\"b\":1}\n{\"c\":2}".into(),
            },
            SseEvent {
                event: Some("ping".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn whole_body_at_once() {
        assert_eq!(parse_in_chunks(BODY.as_bytes(), &[]), expected());
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        let b = BODY.as_bytes();
        for cut in 0..=b.len() {
            assert_eq!(parse_in_chunks(b, &[cut]), expected(), "cut at {cut}");
        }
    }

    #[test]
    fn byte_at_a_time_and_pseudo_random_splits() {
        let b = BODY.as_bytes();
        let all: Vec<usize> = (0..b.len()).collect();
        assert_eq!(parse_in_chunks(b, &all), expected());
        let mut rng = crate::rng::Rng::new(42);
        for _ in 0..200 {
            let mut cuts: Vec<usize> = (0..rng.below(12))
                .map(|_| rng.below(b.len() as u64) as usize)
                .collect();
            cuts.sort_unstable();
            assert_eq!(parse_in_chunks(b, &cuts), expected(), "cuts {cuts:?}");
        }
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut p = SseParser::new();
        let e = p.push(&vec![b'x'; MAX_LINE + 1]).expect_err("too long");
        assert!(e.contains("longer than"));
    }
}
