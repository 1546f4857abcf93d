//! The pipe on Windows itself (run under Wine here): the descriptor Windows builds from our
//! SDDL, a request and the event WebSocket through the pipe, a squatter, a stranger's pipe.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::windows::named_pipe::ServerOptions;
use windows_sys::Win32::Foundation::ERROR_CALL_NOT_IMPLEMENTED;
use windows_sys::Win32::Security::{
    GetAce, GetSecurityDescriptorControl, GetSecurityDescriptorDacl, GetSecurityDescriptorOwner,
    ACCESS_ALLOWED_ACE, ACL, PSID, SE_DACL_PROTECTED,
};

use super::win::{sid_string, SecurityDescriptor};
use super::*;

/// A pipe name of this test's own, so tests and other runs never meet.
fn test_pipe() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        r"\\.\pipe\lanrage-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Wine answers some security calls with "not implemented": a skip, said out loud.
fn unsupported_by_wine(e: &PipeError) -> bool {
    matches!(e, PipeError::Io { source, .. }
        if source.raw_os_error() == Some(ERROR_CALL_NOT_IMPLEMENTED as i32))
}

#[test]
fn windows_reads_our_sddl_as_owner_system_and_exactly_three_grants() {
    let sd = SecurityDescriptor::from_sddl(&sddl()).expect("Windows parses our SDDL");
    // SAFETY (whole test): `sd` outlives every pointer read from it; out-pointers are locals.
    unsafe {
        let mut owner: PSID = std::ptr::null_mut();
        let mut defaulted = 0;
        assert_ne!(
            GetSecurityDescriptorOwner(sd.as_ptr(), &mut owner, &mut defaulted),
            0
        );
        assert_eq!(sid_string(owner).unwrap(), "S-1-5-18");

        let mut control = 0u16;
        let mut revision = 0u32;
        assert_ne!(
            GetSecurityDescriptorControl(sd.as_ptr(), &mut control, &mut revision),
            0
        );
        assert_ne!(
            control & SE_DACL_PROTECTED,
            0,
            "the DACL inherits nothing from the pipe namespace"
        );

        let (mut present, mut dacl_defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        assert_ne!(
            GetSecurityDescriptorDacl(sd.as_ptr(), &mut present, &mut dacl, &mut dacl_defaulted),
            0
        );
        assert!(
            present != 0 && !dacl.is_null(),
            "a missing DACL would let everyone in"
        );
        let mut granted = Vec::new();
        for i in 0..u32::from((*dacl).AceCount) {
            let mut ace: *mut std::ffi::c_void = std::ptr::null_mut();
            assert_ne!(GetAce(dacl, i, &mut ace), 0);
            let ace = ace.cast::<ACCESS_ALLOWED_ACE>();
            assert_eq!((*ace).Header.AceType, 0, "only allow entries (ACE {i})");
            let sid = std::ptr::addr_of_mut!((*ace).SidStart).cast::<std::ffi::c_void>();
            granted.push((sid_string(sid).unwrap(), (*ace).Mask));
        }
        assert_eq!(
            granted,
            [
                ("S-1-5-18".to_string(), 0x001F_01FF),
                ("S-1-5-32-544".to_string(), 0x001F_01FF),
                ("S-1-5-4".to_string(), CLIENT_ACCESS),
            ]
        );
    }
}

/// The daemon's real API (no token on the pipe) and the CLI's client: a setting changed by a
/// request comes back on the event WebSocket, both through the pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_and_its_event_websocket_work_through_the_pipe() {
    use futures_util::StreamExt;

    let pipe = test_pipe();
    let listener = match PipeListener::bind(&pipe) {
        Ok(l) => l,
        Err(e @ PipeError::NotPrivileged { .. }) => {
            eprintln!("SKIPPED: this Wine refuses to create a pipe owned by LocalSystem ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = lanrage_core::Engine::start(lanrage_core::EngineOptions {
        data_dir: lanrage_settings::DataDir::at(dir.path()),
        control_server: None,
    })
    .await
    .unwrap();
    let app = crate::router(engine.clone(), None);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = crate::client::ApiClient::pipe(&pipe);
    let status = match client.get("/v1/status").await {
        Ok(s) => s,
        Err(crate::client::ClientError::Pipe(e)) if unsupported_by_wine(&e) => {
            eprintln!("SKIPPED: Wine cannot read a pipe's owner here ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status["version"], lanrage_core::VERSION);

    let mut events = client
        .events()
        .await
        .expect("the WebSocket upgrade works over the pipe");
    client
        .put(
            "/v1/settings/display_name",
            &serde_json::json!({"text": "Zed"}),
        )
        .await
        .unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let v = events.next().await.unwrap().unwrap();
            if v["type"] == "setting_changed" {
                break v;
            }
        }
    })
    .await
    .expect("the change arrives on the event stream");
    assert_eq!(event["setting"]["key"], "display_name");
    assert_eq!(event["setting"]["value"], "Zed");
    // The client's next instance was waiting: a third connection is served too.
    let status = client.get("/v1/status").await.unwrap();
    assert_eq!(status["device"]["display_name"], "Zed");

    engine.shutdown().await;
    server.abort();
}

#[tokio::test]
async fn a_pipe_someone_created_first_keeps_the_engine_from_serving() {
    let pipe = test_pipe();
    let _squatter = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&pipe)
        .unwrap();
    if ServerOptions::new()
        .first_pipe_instance(true)
        .create(&pipe)
        .is_ok()
    {
        eprintln!(
            "NOTE: this Wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE (a second first instance was \
             created); only the engine's check that the name is free is tested here"
        );
    }
    let err = PipeListener::bind(&pipe)
        .err()
        .expect("the engine must not share its pipe");
    assert!(matches!(err, PipeError::Taken { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("another program already holds"), "{text}");
    assert!(text.contains(&pipe), "{text}");
}

#[tokio::test]
async fn the_client_sends_nothing_to_a_pipe_not_owned_by_local_system() {
    let pipe = test_pipe();
    // Made with the default descriptor: owned by whoever runs the test, as a squatter's is
    // (Wine records no owner at all; refused just the same).
    let squatter = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&pipe)
        .unwrap();
    let err = match connect(&pipe).await {
        Err(e) if unsupported_by_wine(&e) => {
            eprintln!("SKIPPED: Wine cannot read a pipe's owner here ({e})");
            return;
        }
        Err(e) => e,
        Ok(_) => panic!("connected to a pipe the service does not own"),
    };
    assert!(matches!(err, PipeError::NotOurs { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("refusing to talk to {pipe}: it belongs to ")),
        "{err}"
    );
    // The squatter saw a connection but never a byte.
    squatter.connect().await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(std::time::Duration::from_millis(200), async {
        squatter.readable().await.ok();
        squatter.try_read(&mut buf)
    })
    .await;
    assert!(
        !matches!(n, Ok(Ok(k)) if k > 0),
        "the client sent something: {n:?}"
    );
}

#[tokio::test]
async fn no_pipe_means_the_service_is_missing_said_plainly() {
    let pipe = test_pipe();
    let err = connect(&pipe)
        .await
        .err()
        .expect("nothing serves this pipe");
    let PipeError::Absent { service, .. } = &err else {
        panic!("{err:?}")
    };
    // Nothing registers LANrage in this Wine prefix.
    assert_eq!(*service, ServiceState::NotInstalled, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("not installed") && text.contains(&pipe),
        "{text}"
    );
}
