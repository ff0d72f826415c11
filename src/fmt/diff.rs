//! Line diffs for `jitp fmt --diff`.

/// A unified diff (three lines of context) from `old` to `new`, with
/// `name` in the `---`/`+++` headers; empty when the texts are equal.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = diff_lines(&a, &b);
    // Group the edits into hunks with up to three lines of context.
    const CONTEXT: usize = 3;
    let mut out = format!("--- {name}\n+++ {name} (formatted)\n");
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut k = 0;
    while let Some(&first) = changed.get(k) {
        let start = first.saturating_sub(CONTEXT);
        let mut last = first;
        k += 1;
        while let Some(&next) = changed.get(k) {
            if next - last > 2 * CONTEXT {
                break;
            }
            last = next;
            k += 1;
        }
        let end = (last + CONTEXT + 1).min(ops.len());
        let hunk = ops.get(start..end).unwrap_or(&[]);
        let (mut a0, mut b0) = (None, None);
        let (mut an, mut bn) = (0, 0);
        let mut body = String::new();
        for op in hunk {
            match *op {
                Op::Same(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    an += 1;
                    bn += 1;
                    body.push_str(&format!(" {}\n", a.get(i).unwrap_or(&"")));
                }
                Op::Del(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    an += 1;
                    body.push_str(&format!("-{}\n", a.get(i).unwrap_or(&"")));
                }
                Op::Add(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    bn += 1;
                    body.push_str(&format!("+{}\n", b.get(j).unwrap_or(&"")));
                }
            }
        }
        let line = |start: Option<usize>, n: usize| match (start, n) {
            (Some(s), 0) => format!("{s},0"),
            (Some(s), n) => format!("{},{n}", s + 1),
            (None, _) => "0,0".to_string(),
        };
        out.push_str(&format!("@@ -{} +{} @@\n", line(a0, an), line(b0, bn)));
        out.push_str(&body);
    }
    out
}

/// One step of a line diff: indices into the old and new lines (for an
/// insertion or deletion, the position in the other text).
#[derive(Clone, Copy, Debug)]
enum Op {
    Same(usize, usize),
    Del(usize, usize),
    Add(usize, usize),
}

/// A shortest edit script by longest common subsequence, after trimming
/// the common prefix and suffix. Very large differing middles are shown
/// as one replacement rather than compared line by line.
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suf = a.len().min(b.len()) - pre;
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suf)
        .take_while(|(x, y)| x == y)
        .count();
    let am = a.get(pre..a.len() - suf).unwrap_or(&[]);
    let bm = b.get(pre..b.len() - suf).unwrap_or(&[]);
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Same(i, i)).collect();
    let (n, m) = (am.len(), bm.len());
    if n.saturating_mul(m) > 4_000_000 {
        ops.extend((0..n).map(|i| Op::Del(pre + i, pre)));
        ops.extend((0..m).map(|j| Op::Add(pre + n, pre + j)));
    } else {
        // lcs[i][j]: length of the LCS of am[i..] and bm[j..].
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                let v = if am.get(i) == bm.get(j) {
                    lcs.get((i + 1) * w + j + 1).copied().unwrap_or(0) + 1
                } else {
                    let down = lcs.get((i + 1) * w + j).copied().unwrap_or(0);
                    let right = lcs.get(i * w + j + 1).copied().unwrap_or(0);
                    down.max(right)
                };
                if let Some(cell) = lcs.get_mut(i * w + j) {
                    *cell = v;
                }
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            let at = |i: usize, j: usize| lcs.get(i * w + j).copied().unwrap_or(0);
            if i < n && j < m && am.get(i) == bm.get(j) {
                ops.push(Op::Same(pre + i, pre + j));
                i += 1;
                j += 1;
            } else if i < n && (j == m || at(i + 1, j) >= at(i, j + 1)) {
                ops.push(Op::Del(pre + i, pre + j));
                i += 1;
            } else {
                ops.push(Op::Add(pre + i, pre + j));
                j += 1;
            }
        }
    }
    let (a_end, b_end) = (a.len() - suf, b.len() - suf);
    ops.extend((0..suf).map(|k| Op::Same(a_end + k, b_end + k)));
    ops
}
