//! LAN games: the catalogue and detection (being built).
