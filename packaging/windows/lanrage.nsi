; LANrage's Windows installer: LANrage-<version>-x64-setup.exe.
;
; Built by `scripts/package --windows`, which runs
;   makensis -DVERSION=<version> -DSRC=<dist/windows> -DOUTFILE=<dist/LANrage-<version>-x64-setup.exe>
;            [-DAPP_EXE=<dist/windows/lanrage-app.exe>] packaging/windows/lanrage.nsi
; and tested (contents, WinTUN's signature, a silent install and uninstall under Wine) by
; scripts/test-windows-installer.
;
; SRC holds lanrage.exe (the CLI, also the Windows service and the control server) and wintun.dll
; (WireGuard LLC's signed build, never modified: the engine loads it only from its own folder
; and only with the SHA-256 it pins), and wintun-LICENSE.txt or else WINTUN_LICENSE names it
; (default: where scripts/windows/fetch-wintun puts it). APP_EXE, the desktop app, is
; optional: without it the installer has the CLI and the service only.
;
; The app is installed as lanrage-app.exe (its binary name, tauri.conf.json mainBinaryName),
; not LANrage.exe: Windows file names ignore case, so LANrage.exe would replace lanrage.exe.
;
; Only what Debian's nsis package ships is used (MUI2, LogicLib, x64, FileFunc, StrFunc, and the
; nsExec, UserInfo and System plugins): nothing is downloaded to build it.

Unicode true
; A 64-bit installer where this NSIS can make one (Debian's and Ubuntu's nsis can): it writes the
; 64-bit registry and runs the 64-bit sc.exe, PowerShell and pnputil as they are, and it is
; what runs under Debian's 64-bit-only Wine in the test. NSIS's official Windows build has no
; 64-bit stubs: with it (or -DTARGET=x86-unicode) the installer is a 32-bit program that turns
; off WOW64's registry and file-system redirection for all it does (a 32-bit process would
; otherwise write the 32-bit registry and find no pnputil).
!ifndef TARGET
  !if /FileExists "${NSISDIR}\Stubs\lzma_solid-amd64-unicode"
    !define TARGET "amd64-unicode"
  !else
    !define TARGET "x86-unicode"
  !endif
!endif
Target "${TARGET}"
SetCompressor /SOLID lzma
ManifestSupportedOS all
ManifestDPIAware true

!ifndef VERSION
  !error "makensis -DVERSION=<version> (scripts/package --windows passes the workspace version)"
!endif
; The Windows version resource wants four numbers: scripts/package passes them (0.1.0 -> 0.1.0.0).
!ifndef VI_VERSION
  !define VI_VERSION "${VERSION}.0"
!endif
; Relative paths are from this folder: makensis works in its script's folder.
!ifndef SRC
  !define SRC "..\..\dist\windows"
!endif
!ifndef WINTUN_LICENSE
  !if /FileExists "${SRC}\wintun-LICENSE.txt"
    !define WINTUN_LICENSE "${SRC}\wintun-LICENSE.txt"
  !else
    !define WINTUN_LICENSE "..\..\target\windows\wintun\LICENSE.txt"
  !endif
!endif
!ifndef OUTFILE
  !define OUTFILE "..\..\dist\LANrage-${VERSION}-x64-setup.exe"
!endif

!define PRODUCT "LANrage"
!define SERVICE "LANrage"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\LANrage"
; HKCR\lanrage for every user: HKCR is HKLM\Software\Classes merged with the user's own classes.
!define URL_KEY "Software\Classes\lanrage"
!define WEBVIEW2_GUID "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"
!define PS '"$SYSDIR\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command'

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "x64.nsh"
!include "FileFunc.nsh"
!include "StrFunc.nsh"
${StrStr}
${UnStrStr}

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\LANrage"
; An upgrade goes where the previous version is (the x86 variant reads this before it can
; choose the 64-bit registry, so it finds no previous folder and uses the default).
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
RequestExecutionLevel admin
ShowInstDetails show
ShowUninstDetails show
BrandingText "LANrage ${VERSION}"

VIProductVersion "${VI_VERSION}"
VIFileVersion "${VI_VERSION}"
VIAddVersionKey "ProductName" "LANrage"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "LANrage"
VIAddVersionKey "FileDescription" "LANrage ${VERSION} setup"
VIAddVersionKey "LegalCopyright" "LANrage contributors (MIT OR Apache-2.0)"

!define MUI_ICON "..\..\icons\icon.ico"
!define MUI_UNICON "..\..\icons\icon.ico"
!define MUI_ABORTWARNING
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; Waits (up to 15 s) until the service is stopped or does not exist, so its files can be
; replaced or deleted. UN is "" in the installer, "Un" in the uninstaller (StrFunc's names).
!macro WaitServiceStopped UN
  ${For} $R9 1 30
    nsExec::ExecToStack '"$SYSDIR\sc.exe" query ${SERVICE}'
    Pop $R8 ; exit code: 1060 when there is no such service
    Pop $R7 ; output: "STATE : 1  STOPPED" once stopped
    ${If} $R8 != 0
      ${Break}
    ${EndIf}
    ${${UN}StrStr} $R6 $R7 "STOPPED"
    ${If} $R6 != ""
      ${Break}
    ${EndIf}
    Sleep 500
  ${Next}
!macroend

; The x86 variant sees the machine as a 64-bit program does. Registry view: for the whole
; installer. File-system redirection: per thread, so in each section (they run in their own).
!macro NativeView
  !if "${TARGET}" == "x86-unicode"
    SetRegView 64
  !endif
!macroend
!macro NativeFiles
  !if "${TARGET}" == "x86-unicode"
    ${DisableX64FSRedirection}
  !endif
!macroend

Function .onInit
  SetShellVarContext all
  !insertmacro NativeView
  ; wintun.dll is the amd64 build, and its driver cannot load on an ARM64 Windows.
  ${IfNot} ${IsNativeAMD64}
    MessageBox MB_OK|MB_ICONSTOP "LANrage needs a 64-bit Intel or AMD (x64) Windows." /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  ; RequestExecutionLevel asks UAC for it; with UAC off a standard user gets here unelevated.
  UserInfo::GetAccountType
  Pop $0
  ${If} $0 != "Admin"
    MessageBox MB_OK|MB_ICONSTOP "Installing LANrage needs an administrator: it installs a Windows service and a network driver." /SD IDOK
    SetErrorLevel 740 ; ERROR_ELEVATION_REQUIRED
    Abort
  ${EndIf}
FunctionEnd

Section "LANrage" SecMain
  SectionIn RO
  !insertmacro NativeFiles
  SetOutPath "$INSTDIR"

  ; An upgrade: the running service holds lanrage.exe and wintun.dll open. It is stopped for
  ; the new files and started again at the end.
  nsExec::ExecToStack '"$SYSDIR\sc.exe" query ${SERVICE}'
  Pop $0
  Pop $1
  ${If} $0 == 0
    ${StrStr} $2 $1 "RUNNING"
    ${If} $2 != ""
      DetailPrint "Stopping the running ${SERVICE} service"
      nsExec::ExecToLog '"$SYSDIR\sc.exe" stop ${SERVICE}'
      Pop $0
      !insertmacro WaitServiceStopped ""
    ${EndIf}
  ${EndIf}

  File "${SRC}\lanrage.exe"
  ; WireGuard LLC's signed file, byte for byte: the engine checks its SHA-256 before loading it.
  File "${SRC}\wintun.dll"
  File "/oname=wintun-LICENSE.txt" "${WINTUN_LICENSE}"
!ifdef APP_EXE
  File "/oname=lanrage-app.exe" "${APP_EXE}"
!endif
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  ; The service: the engine runs as LocalSystem, so the app and the CLI need no administrator
  ; to create the network adapter. It starts with Windows. sc.exe's results are logged, never
  ; fatal (Wine's sc.exe, for one, has no `config`).
  DetailPrint "Registering the ${SERVICE} service"
  nsExec::ExecToLog '"$SYSDIR\sc.exe" create ${SERVICE} binPath= "\"$INSTDIR\lanrage.exe\" service" start= auto DisplayName= "LANrage"'
  Pop $0
  ${If} $0 != 0
    ; 1073: it exists (an upgrade or a reinstall): point it at this installation.
    DetailPrint "sc create: $0; updating the existing service instead"
    nsExec::ExecToLog '"$SYSDIR\sc.exe" config ${SERVICE} binPath= "\"$INSTDIR\lanrage.exe\" service" start= auto DisplayName= "LANrage"'
    Pop $0
    DetailPrint "sc config: $0"
  ${EndIf}
  nsExec::ExecToLog '"$SYSDIR\sc.exe" description ${SERVICE} "Runs LANrage parties: the virtual LAN adapter, its firewall rule and the connections to your friends."'
  Pop $0
  DetailPrint "sc description: $0"
  ; The service starts now, so the player can create a party right after installing (and with
  ; Windows from then on); an upgraded one runs again with the new files.
  nsExec::ExecToLog '"$SYSDIR\sc.exe" start ${SERVICE}'
  Pop $0
  DetailPrint "sc start: $0"

  ; lanrage://join/... invite links.
  WriteRegStr HKLM "${URL_KEY}" "" "URL:LANrage invite"
  WriteRegStr HKLM "${URL_KEY}" "URL Protocol" ""
!ifdef APP_EXE
  WriteRegStr HKLM "${URL_KEY}\DefaultIcon" "" '"$INSTDIR\lanrage-app.exe",0'
  WriteRegStr HKLM "${URL_KEY}\shell\open\command" "" '"$INSTDIR\lanrage-app.exe" "%1"'
!else
  WriteRegStr HKLM "${URL_KEY}\shell\open\command" "" '"$INSTDIR\lanrage.exe" party join "%1"'
!endif

  ; The Start menu, for every user.
!ifdef APP_EXE
  CreateShortCut "$SMPROGRAMS\LANrage.lnk" "$INSTDIR\lanrage-app.exe" "" "$INSTDIR\lanrage-app.exe" 0 \
    SW_SHOWNORMAL "" "Play LAN games with friends over the internet"
!else
  ; No app in this build: a command prompt with the lanrage command ready.
  CreateShortCut "$SMPROGRAMS\LANrage.lnk" "$SYSDIR\cmd.exe" '/k cd /d "$INSTDIR" && lanrage.exe --help' \
    "$SYSDIR\cmd.exe" 0 SW_SHOWNORMAL "" "LANrage command line"
!endif

  ; Add/Remove Programs.
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "LANrage"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "LANrage"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
!ifdef APP_EXE
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" '"$INSTDIR\lanrage-app.exe",0'
!else
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" '"$INSTDIR\Uninstall.exe",0'
!endif
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" $0

!ifdef APP_EXE
  ; The app draws its window with the Microsoft Edge WebView2 Runtime (part of Windows 11, and
  ; of most Windows 10 machines through Edge). Without it only the app is affected: the
  ; service and the CLI work. A silent install says nothing and goes on.
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    DetailPrint "The Microsoft Edge WebView2 Runtime is missing: the LANrage app needs it"
    MessageBox MB_YESNO|MB_ICONINFORMATION "The LANrage app needs the Microsoft Edge WebView2 Runtime, which this PC does not have.$\r$\n$\r$\nGet it free from Microsoft: ${WEBVIEW2_URL} (the Evergreen Bootstrapper).$\r$\n$\r$\nLANrage's service and the lanrage command work without it.$\r$\n$\r$\nOpen that page now?" /SD IDNO IDNO webview2_done
    ExecShell "open" "${WEBVIEW2_URL}"
    webview2_done:
  ${Else}
    DetailPrint "Microsoft Edge WebView2 Runtime $0 found"
  ${EndIf}
!endif
SectionEnd

Function un.onInit
  SetShellVarContext all
  !insertmacro NativeView
FunctionEnd

; The uninstaller keeps the player's data: %LOCALAPPDATA%\LANrage (settings, device key, logs)
; and %ProgramData%\LANrage (the service's) stay, as apt remove keeps ~/.local/share/lanrage.
; Deleting those folders forgets them. Every step is best-effort: a missing service, rule or
; adapter is not an error.
Section "Uninstall"
  !insertmacro NativeFiles
  ; The service first: stopping it takes down its adapter and firewall rule.
  nsExec::ExecToLog '"$SYSDIR\sc.exe" stop ${SERVICE}'
  Pop $0
  DetailPrint "sc stop: $0"
  !insertmacro WaitServiceStopped "Un"
  nsExec::ExecToLog '"$SYSDIR\sc.exe" delete ${SERVICE}'
  Pop $0
  DetailPrint "sc delete: $0"

  ; What a crash may have left: LANrage's firewall rules (all in the group LANrage) and its
  ; WinTUN adapter.
  DetailPrint "Removing LANrage's firewall rules"
  nsExec::ExecToLog `${PS} "Get-NetFirewallRule -Group 'LANrage' -ErrorAction SilentlyContinue | Remove-NetFirewallRule"`
  Pop $0
  DetailPrint "firewall rules: $0"
  DetailPrint "Removing any leftover LANrage network adapter"
  nsExec::ExecToLog `${PS} "Get-PnpDevice -FriendlyName 'LANrage*' -ErrorAction SilentlyContinue | ForEach-Object { pnputil /remove-device $$_.InstanceId }"`
  Pop $0
  DetailPrint "network adapter: $0"

  DeleteRegKey HKLM "${URL_KEY}"
  Delete "$SMPROGRAMS\LANrage.lnk"

  Delete /REBOOTOK "$INSTDIR\lanrage-app.exe"
  Delete /REBOOTOK "$INSTDIR\lanrage.exe"
  Delete /REBOOTOK "$INSTDIR\wintun.dll"
  Delete "$INSTDIR\wintun-LICENSE.txt"
  Delete "$INSTDIR\Uninstall.exe"
  ; Only if empty: the folder may hold something that is not ours.
  RMDir /REBOOTOK "$INSTDIR"

  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd
