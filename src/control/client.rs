//! The control socket's client, used by the CLI: send one request, read its
//! reply, or follow a `watch` stream.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::node::request::{Reply, Request, WatchEvent};

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket.
    #[error(
        "no scalesmall node answers on {}: {source}. Is `scalesmall run` running? (use --socket or SCALESMALL_SOCKET if it uses another socket)",
        path.display()
    )]
    Unreachable {
        /// The socket tried.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke or the reply was not understood.
    #[error("control socket {}: {problem}", path.display())]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

/// A connection to a node's control socket.
pub struct Client {
    path: PathBuf,
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    wr: tokio::net::unix::OwnedWriteHalf,
}

impl Client {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// [`ClientError::Unreachable`].
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream =
            UnixStream::connect(path)
                .await
                .map_err(|source| ClientError::Unreachable {
                    path: path.to_path_buf(),
                    source,
                })?;
        let (rd, wr) = stream.into_split();
        Ok(Self {
            path: path.to_path_buf(),
            lines: BufReader::new(rd).lines(),
            wr,
        })
    }

    fn broken(&self, problem: impl ToString) -> ClientError {
        ClientError::Protocol {
            path: self.path.clone(),
            problem: problem.to_string(),
        }
    }

    async fn send(&mut self, req: &Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(req).map_err(|e| self.broken(e))?;
        line.push(b'\n');
        self.wr.write_all(&line).await.map_err(|e| self.broken(e))
    }

    async fn line(&mut self) -> Result<String, ClientError> {
        match self.lines.next_line().await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(self.broken("the node closed the connection")),
            Err(e) => Err(self.broken(e)),
        }
    }

    /// Sends `req` and returns the reply.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] if the connection breaks.
    pub async fn ask(&mut self, req: &Request) -> Result<Reply, ClientError> {
        self.send(req).await?;
        let line = self.line().await?;
        serde_json::from_str(&line).map_err(|e| self.broken(format!("bad reply: {e}")))
    }

    /// Starts a `watch` stream.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] if the connection breaks.
    pub async fn watch(&mut self) -> Result<(), ClientError> {
        self.send(&Request::Watch).await
    }

    /// The next event of a `watch` stream.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] when the stream ends.
    pub async fn next_event(&mut self) -> Result<WatchEvent, ClientError> {
        let line = self.line().await?;
        serde_json::from_str(&line).map_err(|e| self.broken(format!("bad event: {e}")))
    }
}
