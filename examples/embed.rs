//! A service embedding jitp: load a compiled bundle once, share it across
//! worker threads, decide each request as it arrives.
//!
//! Run: `cargo run --example embed` (it compiles the `rotate_secrets`
//! example first; a real service would load a `.jitb` built in CI with
//! `jitp build examples/rotate_secrets -o policy.jitb` via
//! `Bundle::from_file("policy.jitb")`).

use jitp_runtime::decision::Effect;
use jitp_runtime::Bundle;
use std::sync::Arc;
use std::thread;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Load the bundle. `from_bytes` verifies everything before use: a
    //    corrupt or hostile file is an error, never a crash.
    let text = std::fs::read_to_string("examples/rotate_secrets/policy.jitp")?;
    let compiled = jitp::driver::compile_text("rotate_secrets/policy.jitp", &text)?;
    let bytes = compiled.to_bytes(); // what `jitp build` writes
    let bundle = Arc::new(Bundle::from_bytes(&bytes)?);

    // 2. Requests arrive as AuthZEN-shaped JSON.
    let requests: Vec<String> = std::fs::read_dir("examples/rotate_secrets/requests")?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(std::fs::read_to_string)
        .collect::<Result<_, _>>()?;

    // 3. Decide on several threads: `Bundle` is `Send + Sync`, deciding
    //    takes `&self`, and there is no global state.
    let workers: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let bundle = Arc::clone(&bundle);
            thread::spawn(move || {
                // Binding checks the request against the schema once; an
                // ill-typed request is a deny with reason `invalid_request`.
                let bound = match bundle.bind_str(&request) {
                    Ok(bound) => bound,
                    Err(e) => return format!("deny (invalid_request): {e}"),
                };
                // Deciding a bound request allocates nothing.
                let decision = bundle.decide(&bound);
                match decision.effect {
                    Effect::Allow => {
                        let until = decision
                            .expires_at()
                            .map_or("no expiry".to_string(), |t| format!("until {t}"));
                        let duties: Vec<String> = decision
                            .obligations()
                            .map(|(kind, target)| format!("{kind} {target}"))
                            .collect();
                        format!(
                            "allow by `{}` {until}; obligations: [{}]",
                            decision.rule_id().unwrap_or("?"),
                            duties.join(", ")
                        )
                    }
                    Effect::StepUp => {
                        let needs: Vec<&str> = decision.needs().collect();
                        format!("step_up: present {}", needs.join(", "))
                    }
                    Effect::Deny => format!("deny ({})", decision.reason.as_str()),
                }
            })
        })
        .collect();
    for w in workers {
        println!("{}", w.join().map_err(|_| "worker panicked")?);
    }
    Ok(())
}
