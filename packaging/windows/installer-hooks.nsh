; LANrage NSIS installer hooks (bundle.windows.nsis.installerHooks in tauri.conf.json).
; The installer runs per machine (Administrator), so SHCTX is HKLM.

!macro NSIS_HOOK_POSTINSTALL
  ; lanrage://join/... links open LANrage.
  WriteRegStr SHCTX "Software\Classes\lanrage" "" "URL:LANrage invite"
  WriteRegStr SHCTX "Software\Classes\lanrage" "URL Protocol" ""
  WriteRegStr SHCTX "Software\Classes\lanrage\DefaultIcon" "" "$INSTDIR\${MAINBINARYNAME}.exe,0"
  WriteRegStr SHCTX "Software\Classes\lanrage\shell\open\command" "" '"$INSTDIR\${MAINBINARYNAME}.exe" "%1"'
!macroend

!macro NSIS_HOOK_POSTUNINSTALL
  ; Nothing of LANrage stays registered. The WinTUN adapter LANrage created is removed by
  ; Windows with the driver's last user; players' data in %APPDATA% stays unless they chose
  ; to delete app data in the uninstaller.
  DeleteRegKey SHCTX "Software\Classes\lanrage"
!macroend
