//! `scalesmall keygen` prints a fresh key that parses, on stdout alone.

use std::process::Command;

use scalesmall::wire::Key;

fn keygen() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scalesmall"))
        .arg("keygen")
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keep it secret"));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn keygen_prints_a_new_valid_key_each_time() {
    let a = keygen();
    let b = keygen();
    assert_eq!(a.lines().count(), 1, "only the key on stdout");
    let ka = Key::from_base64(&a).expect("parses");
    let kb = Key::from_base64(&b).expect("parses");
    assert_ne!(ka, kb);
}
