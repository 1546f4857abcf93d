//! Who may read the Windows service's data directory.
//!
//! The service (LocalSystem) keeps the device key, settings and the local API's token in
//! `%ProgramData%\LANrage`, whose inherited ACL lets every local user read it. The directory is
//! closed to SYSTEM and Administrators; only the API token is opened to INTERACTIVE (S-1-5-4,
//! whoever is logged on at the machine), so the app and the CLI of the player at the keyboard
//! can drive the engine, and services, network logons and other programs' accounts cannot.
//! Plain functions returning `icacls` arguments, tested on every OS.
#![cfg_attr(not(windows), allow(dead_code))]

use std::path::Path;

/// Well-known SIDs (language-independent, unlike the group names).
const SYSTEM: &str = "*S-1-5-18";
const ADMINISTRATORS: &str = "*S-1-5-32-544";
const INTERACTIVE: &str = "*S-1-5-4";

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

/// `icacls` arguments that let the interactive user read the API token (and nothing else).
pub fn open_token(token: &Path) -> Vec<String> {
    vec![
        token.display().to_string(),
        "/grant".into(),
        format!("{INTERACTIVE}:R"),
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

    #[test]
    fn only_the_token_is_readable_by_the_player_at_the_keyboard() {
        let a = open_token(Path::new("C:/ProgramData/LANrage/api.token"));
        assert_eq!(
            a,
            ["C:/ProgramData/LANrage/api.token", "/grant", "*S-1-5-4:R"]
        );
    }
}
