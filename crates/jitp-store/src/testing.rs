//! The test suite every [`TaskStore`] passes: the state machine, durability
//! across reopening, and racing transitions on one task. Each function
//! panics (through `assert!`) on a failure; call them from a test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::{Principal, Refusal, Task, TaskState, TaskStore, UpdateError};

fn who(ty: &str, id: &str) -> Principal {
    Principal {
        ty: ty.into(),
        id: id.into(),
    }
}

/// A requested task for `Svc::"worker"` needing `needed` approvals.
pub fn sample(needed: u32, ttl: Option<i64>, at: i64) -> Task {
    Task::new(
        crate::new_id().unwrap(),
        "rotate".into(),
        who("Svc", "worker"),
        "Svc\u{0}worker".into(),
        "routine rotation".into(),
        Some("CHG-1".into()),
        None,
        needed,
        ttl,
        at,
    )
}

fn approve(s: &dyn TaskStore, id: &str, by: &str, at: i64) -> Result<Task, UpdateError> {
    let p = who("Operator", by);
    let key = format!("Operator\u{0}{}", by.to_lowercase());
    s.update(id, &mut |t: &mut Task| t.approve(&p, &key, at))
}

/// Runs every check on stores from `open`, which opens the same storage
/// each time it is called.
pub fn suite(open: &dyn Fn() -> Box<dyn TaskStore>) {
    lifecycle(&*open());
    refusals(&*open());
    listing(&*open());
    bulk(&*open());
    durable(open);
    races(&*open());
}

/// `requested → active → ended`, with the history.
pub fn lifecycle(s: &dyn TaskStore) {
    let t0 = 1_700_000_000_000_000;
    let task = sample(2, Some(60_000_000), t0);
    assert_eq!(task.state, TaskState::Requested);
    s.create(&task).unwrap();
    assert_eq!(s.get(&task.id).unwrap().as_ref(), Some(&task));
    assert_eq!(s.get("0123").unwrap(), None);
    let t = approve(s, &task.id, "alice", t0 + 1).unwrap();
    assert_eq!((t.state, t.approvals.len()), (TaskState::Requested, 1));
    let t = approve(s, &task.id, "bob", t0 + 2).unwrap();
    assert_eq!(t.state, TaskState::Active);
    assert_eq!(t.started_at, Some(t0 + 2));
    assert_eq!(t.expires_at(), Some(t0 + 2 + 60_000_000));
    assert_eq!(t.state_at(t0 + 2 + 60_000_000), TaskState::Ended);
    let read = s.get(&task.id).unwrap().unwrap();
    assert_eq!(read, t);
    let ended = s
        .update(&task.id, &mut |t: &mut Task| {
            t.end(Some(&who("Operator", "carol")), t0 + 3)
        })
        .unwrap();
    assert_eq!(ended.state, TaskState::Ended);
    let kinds: Vec<&str> = ended.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["requested", "approved", "approved", "started", "ended"]
    );
    assert_eq!(s.get(&task.id).unwrap().unwrap(), ended);
    // None needed: active at once.
    let now = sample(0, None, t0);
    assert_eq!(now.state, TaskState::Active);
    s.create(&now).unwrap();
    assert_eq!(s.get(&now.id).unwrap().unwrap().started_at, Some(t0));
}

/// Self-approval, a second approval by the same approver, approvals after
/// the end, a second end: each refused and nothing written.
pub fn refusals(s: &dyn TaskStore) {
    let t0 = 1_700_000_000_000_000;
    let task = sample(2, None, t0);
    s.create(&task).unwrap();
    let own = s.update(&task.id, &mut |t: &mut Task| {
        t.approve(&who("Svc", "worker"), "Svc\u{0}worker", t0)
    });
    assert_eq!(own, Err(UpdateError::Refused(Refusal::SelfApproval)));
    approve(s, &task.id, "alice", t0).unwrap();
    assert_eq!(
        approve(s, &task.id, "ALICE", t0),
        Err(UpdateError::Refused(Refusal::Duplicate))
    );
    let t = s.get(&task.id).unwrap().unwrap();
    assert_eq!((t.approvals.len(), t.version), (1, 2));
    assert_eq!(approve(s, "feed", "x", t0), Err(UpdateError::NotFound));
    let r = s
        .update(&task.id, &mut |t: &mut Task| t.end(None, t0))
        .unwrap();
    assert_eq!(r.state, TaskState::Rejected);
    assert_eq!(
        approve(s, &task.id, "bob", t0),
        Err(UpdateError::Refused(Refusal::NotRequested(
            TaskState::Rejected
        )))
    );
    assert_eq!(
        s.update(&task.id, &mut |t: &mut Task| t.end(None, t0)),
        Err(UpdateError::Refused(Refusal::AlreadyEnded(
            TaskState::Rejected
        )))
    );
    assert_eq!(s.get(&task.id).unwrap().unwrap(), r);
}

/// `list_active` holds the active tasks only: not requested, ended or
/// expired ones.
pub fn listing(s: &dyn TaskStore) {
    let t0 = 1_800_000_000_000_000;
    let before: Vec<String> = s
        .list_active(t0, 10_000)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let active = sample(0, Some(1_000), t0);
    let forever = sample(0, None, t0);
    let waiting = sample(1, None, t0);
    let ended = sample(0, None, t0);
    for t in [&active, &forever, &waiting, &ended] {
        s.create(t).unwrap();
    }
    s.update(&ended.id, &mut |t: &mut Task| t.end(None, t0))
        .unwrap();
    let ids = |now| -> Vec<String> {
        s.list_active(now, 10_000)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .filter(|id| !before.contains(id))
            .collect()
    };
    assert_eq!(ids(t0), [active.id.clone(), forever.id.clone()]);
    assert_eq!(ids(t0 + 1_000), std::slice::from_ref(&forever.id));
    assert_eq!(s.list_active(t0, 1).unwrap().len(), 1);
}

/// `create_many` stores every task, listing keeps their order, and a batch
/// holding an id already stored is refused whole.
pub fn bulk(s: &dyn TaskStore) {
    let t0 = 1_900_000_000_000_000;
    let before: Vec<String> = s
        .list_active(t0, 10_000)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    s.create_many(&[]).unwrap();
    let tasks: Vec<Task> = (0..2_500)
        .map(|i| sample(u32::from(i % 5 == 0), None, t0))
        .collect();
    s.create_many(&tasks).unwrap();
    for t in [&tasks[0], &tasks[1_234], &tasks[2_499]] {
        assert_eq!(s.get(&t.id).unwrap().as_ref(), Some(t));
    }
    let listed: Vec<String> = s
        .list_active(t0, 10_000)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .filter(|id| !before.contains(id))
        .collect();
    let active: Vec<String> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Active)
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(listed.len(), 2_000);
    assert_eq!(listed, active);
    // One new task and one already stored: neither is written.
    let fresh = sample(0, None, t0);
    let again = [fresh.clone(), tasks[7].clone()];
    assert!(s.create_many(&again).is_err());
    assert_eq!(s.get(&fresh.id).unwrap(), None);
}

/// What was acknowledged is there after reopening.
pub fn durable(open: &dyn Fn() -> Box<dyn TaskStore>) {
    let t0 = 1_700_000_000_000_000;
    let task = sample(1, None, t0);
    let after = {
        let s = open();
        s.create(&task).unwrap();
        approve(&*s, &task.id, "alice", t0).unwrap()
    };
    let s = open();
    assert_eq!(s.get(&task.id).unwrap().unwrap(), after);
}

/// Eight threads approve (twice each, once in another case) and end one
/// task at once: one consistent state comes out.
pub fn races(s: &dyn TaskStore) {
    let t0 = 1_700_000_000_000_000;
    for round in 0..3 {
        let task = sample(3, None, t0);
        s.create(&task).unwrap();
        std::thread::scope(|sc| {
            for i in 0..8 {
                let id = task.id.clone();
                sc.spawn(move || {
                    let name = format!("approver{i}");
                    for n in [name.clone(), name.to_uppercase()] {
                        match approve(s, &id, &n, t0 + i) {
                            Ok(_) | Err(UpdateError::Refused(_)) => {}
                            Err(e) => panic!("approval failed: {e:?}"),
                        }
                    }
                    if i == (round * 3) % 8 {
                        let _ = s.update(&id, &mut |t: &mut Task| t.end(None, t0 + 100));
                    }
                });
            }
        });
        let t = s.get(&task.id).unwrap().unwrap();
        let mut keys: Vec<&str> = t.approvals.iter().map(|a| a.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), t.approvals.len(), "an approver counted twice");
        assert!(
            t.approvals.len() <= 3,
            "approvals after the start: {}",
            t.approvals.len()
        );
        assert!(matches!(t.state, TaskState::Ended | TaskState::Rejected));
        let starts = t.events.iter().filter(|e| e.kind == "started").count();
        assert_eq!(starts, usize::from(t.state == TaskState::Ended));
        assert_eq!(t.started_at.is_some(), t.state == TaskState::Ended);
        let approved = t.events.iter().filter(|e| e.kind == "approved").count();
        assert_eq!(approved, t.approvals.len());
        assert_eq!(t.version as usize, 1 + approved + 1);
    }
}
