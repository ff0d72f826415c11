//! A bounded fuzz of request bodies and headers sent to a running
//! `jitp serve`: every answer is a well-formed HTTP response with an
//! expected status, garbage is never an allow, and the server survives.

use crate::serve::Server;
use crate::support::{examples_dir, proptest_config};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn server() -> Server {
    let dir = examples_dir().join("authzen_todo");
    Server::start(&[
        "--policy",
        dir.join("policy.jitp").to_str().unwrap(),
        "--entities",
        dir.join("entities.json").to_str().unwrap(),
        "--action-namespace",
        "todo",
    ])
}

fn exchange(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON-ish text: fragments of valid requests, shuffled and cut.
fn body() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(r#"{"subject":{"type":"user","id":"CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"}"#.to_string()),
        Just(r#","action":{"name":"can_delete_todo"}"#.to_string()),
        Just(r#","resource":{"type":"todo","id":"1","properties":{"ownerID":"x"}}"#.to_string()),
        Just(r#","evaluations":[{},{"action":null}]"#.to_string()),
        Just(r#","now":"2026-01-01T00:00:00Z""#.to_string()),
        Just(r#","roles":["admin"],"roles":[]"#.to_string()),
        Just("}".to_string()),
        Just("[".repeat(200)),
        Just("\u{0}\u{ff}\\ud800".to_string()),
        "[ -~]{0,20}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("content-type: application/json\r\n".to_string()),
        Just("content-type: text/plain\r\n".to_string()),
        Just("content-length: 99999999999\r\n".to_string()),
        Just("transfer-encoding: chunked\r\n".to_string()),
        Just("authorization: Bearer x\r\n".to_string()),
        Just("expect: 100-continue\r\n".to_string()),
        "[a-z-]{1,10}: [ -~]{0,20}\r\n",
    ]
}

/// The server is started once, inside the test, so its guard kills it
/// whether the property holds or not.
#[test]
fn hostile_requests_never_allow_and_never_crash() {
    let s = server();
    let path = prop_oneof![
        Just("/access/v1/evaluation"),
        Just("/access/v1/evaluations"),
        Just("/v1/decide"),
        Just("/v1/decide?explain=true"),
        Just("/v1/bundle"),
    ];
    let input = (path, proptest::collection::vec(header(), 0..4), body());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(96, 0x5e7e));
    let result = runner.run(&input, |(path, headers, body)| {
        let mut req = format!("POST {path} HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n");
        for h in &headers {
            req.push_str(h);
        }
        let framed = headers
            .iter()
            .any(|h| h.starts_with("content-length") || h.starts_with("transfer-encoding"));
        if !framed {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        let resp = exchange(&s.addr(), req.as_bytes());
        // `expect: 100-continue` gets an interim answer first.
        let resp = resp
            .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
            .map_or(resp.clone(), str::to_string);
        // The server may close a connection whose framing is broken; what
        // it answers must be one of the documented statuses.
        if !resp.is_empty() {
            let status: u16 = resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            prop_assert!(
                [200, 400, 405, 408, 413, 415, 417].contains(&status),
                "status {} for {:?}:\n{}",
                status,
                req,
                resp
            );
            prop_assert!(
                !resp.contains("\"decision\":true") && !resp.contains("\"decision\": \"allow\""),
                "{:?} was allowed:\n{}",
                req,
                resp
            );
        }
        // Still serving.
        prop_assert_eq!(s.get("/healthz").0, 200);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nserver log:\n{}", s.log());
    }
}
