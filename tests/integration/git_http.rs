//! SEC-03: pushing over HTTP with a token, the way GitHub is reached. A smart-HTTP git
//! server (git's own `http-backend` behind a small HTTP front that demands Basic auth)
//! records the credentials it is sent; meanwhile every process's argv is sampled.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;

struct HttpGit {
    root: tempfile::TempDir,
    url: String,
    /// Passwords of the Basic credentials received.
    passwords: Arc<Mutex<Vec<String>>>,
}

impl HttpGit {
    /// A bare `origin.git`, served at `{url}/origin.git` to clients that authenticate.
    fn start() -> HttpGit {
        let root = tempfile::tempdir().unwrap();
        git(
            root.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let passwords: Arc<Mutex<Vec<String>>> = Arc::default();
        let (dir, seen) = (root.path().to_path_buf(), passwords.clone());
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let (dir, seen) = (dir.clone(), seen.clone());
                std::thread::spawn(move || serve(sock, &dir, &seen));
            }
        });
        HttpGit {
            root,
            url,
            passwords,
        }
    }

    fn bare(&self) -> PathBuf {
        self.root.path().join("origin.git")
    }
}

fn serve(mut sock: TcpStream, root: &Path, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(password) = header("authorization").and_then(|a| basic_password(&a)) else {
        let _ = sock.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    seen.lock().unwrap().push(password);
    if header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        let _ = sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body = read_body(
        &mut reader,
        header("content-length"),
        header("transfer-encoding"),
    );
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "drover")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header("content-encoding").unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cgi.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = cgi.wait_with_output().unwrap().stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))
        .unwrap_or((out.len(), 0));
    let head = String::from_utf8_lossy(&out[..split.0]).to_string();
    let payload = &out[(split.0 + split.1).min(out.len())..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines().filter(|l| !l.is_empty()) {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            _ => response.push_str(&format!("{h}\r\n")),
        }
    }
    let _ = sock.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    let _ = sock.write_all(payload);
}

fn basic_password(auth: &str) -> Option<String> {
    use base64::Engine;
    let b64 = auth.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    Some(text.split_once(':')?.1.to_string())
}

fn read_body(r: &mut impl BufRead, length: Option<String>, encoding: Option<String>) -> Vec<u8> {
    let mut body = Vec::new();
    if encoding.is_some_and(|e| e.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            if r.read_exact(&mut chunk).is_err() || n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length.and_then(|l| l.parse::<usize>().ok()) {
        body.resize(n, 0);
        let _ = r.read_exact(&mut body);
    }
    body
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if std::fs::read(&p)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                hits.push(p);
            }
        }
    }
    hits
}

/// SEC-03: the push authenticates with the token (the server receives it), yet the token
/// is in no process's argv at any 10 ms sample, in no remote URL, and in no file of the
/// user's repository, the workspace or drover's data afterwards.
#[test]
fn sec_03_a_pushed_token_stays_out_of_argv_urls_and_files() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let server = HttpGit::start();
    let remote = format!("{}/origin.git", server.url);
    git(&env.repo, &["remote", "add", "origin", &remote]);
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    assert!(env.drover(&["approve", &id]).status.success());
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();

    let token = format!(
        "ghp_{}",
        "T".repeat(12) + &std::process::id().to_string() + "x9"
    );
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let sampler = {
        let (done, samples, token) = (done.clone(), samples.clone(), token.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Ok(out) = Command::new("ps").args(["-eo", "args"]).output() {
                    let mut s = samples.lock().unwrap();
                    s.0 += 1;
                    for l in text(&out.stdout).lines().filter(|l| l.contains(&token)) {
                        s.1.push(l.to_string());
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        })
    };
    let out = env
        .command(&["push", &id])
        .env("GITHUB_TOKEN", &token)
        .output()
        .unwrap();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The push really went through with the token.
    assert!(
        server.passwords.lock().unwrap().contains(&token),
        "the server received the token as the Basic password"
    );
    let pushed = Command::new("git")
        .args(["rev-parse", &format!("refs/heads/{branch}")])
        .current_dir(server.bare())
        .output()
        .unwrap();
    assert!(pushed.status.success(), "the branch is on the server");

    let (count, leaks) = samples.lock().unwrap().clone();
    assert!(
        count > 3,
        "argv was sampled during the push ({count} samples)"
    );
    assert!(leaks.is_empty(), "token in argv: {leaks:?}");
    for dir in [env.repo.clone(), env.data().join("workspaces").join(&id)] {
        let remotes = Command::new("git")
            .args(["remote", "-v"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(!text(&remotes.stdout).contains(&token), "{}", dir.display());
        assert_eq!(files_holding(&dir, &token), Vec::<PathBuf>::new());
    }
    assert_eq!(files_holding(&env.data(), &token), Vec::<PathBuf>::new());
}
