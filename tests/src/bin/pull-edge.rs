//! A test service: tsmon's pull endpoint (from `TSMON_MONITOR`) beside an application
//! listener of its own. The application answers `ok` to every connection and holds it until
//! the client closes (so a flood of clients can use up the process's descriptors). Prints
//! `ready <app port>`, then runs until stdin closes.

use std::io::{Read, Write};
use std::time::Duration;

fn main() {
    let _tsmon = tsmon::flush::start_main(
        tsmon::State::builder().with_target(tsmon::Target::new("tsmon-tests", "pull-edge")),
    )
    .expect("tsmon");
    let app = std::net::TcpListener::bind("127.0.0.1:0").expect("app listener");
    let port = app.local_addr().expect("app address").port();
    std::thread::spawn(move || {
        loop {
            match app.accept() {
                Ok((mut conn, _)) => {
                    std::thread::spawn(move || {
                        let _ = conn.write_all(b"ok\n");
                        let mut sink = [0u8; 64];
                        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                    });
                }
                // Out of descriptors: a well-behaved application waits, as tsmon does.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    println!("ready {port}");
    let _ = std::io::stdout().flush();
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    while !matches!(
        std::io::BufRead::read_line(&mut stdin, &mut line),
        Ok(0) | Err(_)
    ) {
        line.clear();
    }
}
