//! Component stdout/stderr: appended to `<state-dir>/logs/<component>_stdout.txt` /
//! `_stderr.txt` (Spin's layout) and echoed to the console line by line, prefixed with the
//! component id, unless the host runs quietly.

use anyhow::{Context, Result};
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Which of the two standard streams a sink stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The component's stdout.
    Stdout,
    /// The component's stderr.
    Stderr,
}

/// A destination for one stream of one component, shared by all its instances.
#[derive(Clone)]
pub struct LogSink {
    prefix: Arc<str>,
    stream: Stream,
    file: Option<Arc<File>>,
    echo: bool,
}

impl LogSink {
    /// Opens (appending) the log file of `component` in `log_dir`, if given, and echoes when asked.
    pub fn new(
        component: &str,
        stream: Stream,
        log_dir: Option<&Path>,
        echo: bool,
    ) -> Result<LogSink> {
        let file = match log_dir {
            Some(dir) => {
                let name = match stream {
                    Stream::Stdout => format!("{component}_stdout.txt"),
                    Stream::Stderr => format!("{component}_stderr.txt"),
                };
                let path = dir.join(name);
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("cannot open log file {}", path.display()))?;
                Some(Arc::new(f))
            }
            None => None,
        };
        Ok(LogSink {
            prefix: format!("[{component}] ").into(),
            stream,
            file,
            echo,
        })
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            sink: self.clone(),
            partial: Vec::new(),
        }
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// One instance's handle on a sink; keeps an unfinished line until its newline arrives.
struct LineWriter {
    sink: LogSink,
    partial: Vec<u8>,
}

impl LineWriter {
    fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(f) = &self.sink.file {
            (&**f).write_all(bytes)?;
        }
        if self.sink.echo {
            self.partial.extend_from_slice(bytes);
            if let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') {
                let complete: Vec<u8> = self.partial.drain(..=last_nl).collect();
                self.echo(&complete);
            }
        }
        Ok(())
    }

    fn echo(&self, text: &[u8]) {
        let mut out = String::new();
        for line in String::from_utf8_lossy(text).lines() {
            out.push_str(&self.sink.prefix);
            out.push_str(line);
            out.push('\n');
        }
        // Console write failures (closed terminal) must not fail the component.
        let _ = match self.sink.stream {
            Stream::Stdout => std::io::stdout().lock().write_all(out.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(out.as_bytes()),
        };
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.echo(&rest);
        }
    }
}

#[async_trait::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes)
            .map_err(|e| wasmtime_wasi::p2::StreamError::LastOperationFailed(e.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.write_bytes(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
