//! The HTTP server example under load, beside `dispatch_async` alone.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// The HTTP server example, driven in process for its throughput.
#[path = "../../examples/server.rs"]
#[allow(dead_code, unreachable_pub, reason = "only the routes and the loader are used here")]
mod example;

/// Requests per second through the server example on the demo pipeline
/// (`POST /render` of `demo/sample.md`) with `clients` concurrent clients
/// (an HTTP/1 connection each), beside the same `dispatch_async` calls made
/// in process by as many tasks. Two seconds each.
pub(super) fn server_throughput(levels: &[usize]) -> Vec<(usize, f64, f64)> {
    const SPAN: Duration = Duration::from_secs(2);
    let server_runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let head = Arc::new(
        server_runtime
            .block_on(example::load_dir(std::path::Path::new(wasm_link_guests::DEMO_DIR)))
            .expect("the demo loads"),
    );
    let listener = server_runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    server_runtime.spawn(async move { axum::serve(listener, example::app(head)).await });
    let sample = std::fs::read_to_string(std::path::Path::new(wasm_link_guests::DEMO_DIR).join("sample.md"))
        .expect("the sample document");
    // The clients on a runtime of their own: one thread, as a load generator.
    let clients = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let in_process = Arc::new(
        server_runtime
            .block_on(example::load_dir(std::path::Path::new(wasm_link_guests::DEMO_DIR)))
            .expect("the demo loads"),
    );
    levels
        .iter()
        .map(|&n| {
            let url = format!("http://{address}/render");
            let http = clients.block_on(async {
                let started = std::time::Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let (url, sample) = (url.clone(), sample.clone());
                        tokio::spawn(async move {
                            let client = reqwest::Client::builder().no_proxy().build().expect("a client");
                            let mut done = 0u32;
                            while started.elapsed() < SPAN {
                                let reply = client.post(&url).body(sample.clone()).send().await.expect("a reply");
                                assert!(reply.status().is_success());
                                black_box(reply.bytes().await.expect("a body"));
                                done += 1;
                            }
                            done
                        })
                    })
                    .collect();
                let mut total = 0u32;
                for task in tasks {
                    total += task.await.expect("a client");
                }
                f64::from(total) / started.elapsed().as_secs_f64()
            });
            let direct = server_runtime.block_on(async {
                let started = std::time::Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let (head, sample) = (in_process.clone(), sample.clone());
                        tokio::spawn(async move {
                            let mut done = 0u32;
                            while started.elapsed() < SPAN {
                                let args = [Val::String(sample.clone())];
                                black_box(only(head.dispatch_async(head.interface_path(), "run", true, &args).await));
                                done += 1;
                            }
                            done
                        })
                    })
                    .collect();
                let mut total = 0u32;
                for task in tasks {
                    total += task.await.expect("a task");
                }
                f64::from(total) / started.elapsed().as_secs_f64()
            });
            (n, http, direct)
        })
        .collect()
}
