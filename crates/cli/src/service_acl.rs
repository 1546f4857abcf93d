//! Who may read the Windows service's data directory.
//!
//! The service (LocalSystem) keeps the device key, settings and the local API's token in
//! `%ProgramData%\LANrage`, whose inherited ACL lets every local user read it. The directory is
//! closed to SYSTEM and Administrators; the player's app and CLI need nothing in it, since they
//! reach the engine over the service's named pipe (see [`crate::pipe`]). Plain functions
//! returning `icacls` arguments, tested on every OS.
#![cfg_attr(not(windows), allow(dead_code))]

use std::path::Path;

/// Well-known SIDs (language-independent, unlike the group names).
const SYSTEM: &str = "*S-1-5-18";
const ADMINISTRATORS: &str = "*S-1-5-32-544";

/// `icacls` arguments that replace the directory's ACL with full control for SYSTEM and
/// Administrators, inherited by everything in it.
pub fn close_dir(dir: &Path) -> Vec<String> {
    vec![
        dir.display().to_string(),
        "/inheritance:r".into(),
        "/grant:r".into(),
        format!("{SYSTEM}:(OI)(CI)F"),
        "/grant:r".into(),
        format!("{ADMINISTRATORS}:(OI)(CI)F"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_closed_to_everyone_but_system_and_administrators() {
        let a = close_dir(Path::new("C:/ProgramData/LANrage"));
        assert_eq!(a[0], "C:/ProgramData/LANrage");
        assert!(a.contains(&"/inheritance:r".to_string()), "{a:?}");
        let grants: Vec<&String> = a.iter().filter(|x| x.starts_with('*')).collect();
        assert_eq!(grants, ["*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"]);
        // No group of ordinary users, and nothing for INTERACTIVE on the directory.
        assert!(!a
            .iter()
            .any(|x| x.contains("S-1-5-32-545") || x.contains("S-1-5-4:")));
    }
}
