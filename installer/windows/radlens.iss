; Inno Setup script: RadLens for Windows from the PyInstaller one-folder bundle (dist\RadLens).
;   pyinstaller --noconfirm installer\pyinstaller\radlens.spec
;   iscc /DAppVersion=0.1.0 installer\windows\radlens.iss      -> installer\windows\Output\RadLens-0.1.0-setup.exe
; Per-user install by default (no administrator rights needed; the dialog offers all users).
; Uninstall removes the program folder only: settings, annotations and logs in %LOCALAPPDATA%\RadLens stay.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\RadLens"
#endif

[Setup]
AppId={{6B0E2C1A-5D7F-4B8E-9C61-2E4A7D3F9B10}
AppName=RadLens
AppVersion={#AppVersion}
AppVerName=RadLens {#AppVersion}
AppPublisher=RadLens developers
AppComments=Research use - not for diagnostic use.
DefaultDirName={autopf}\RadLens
DefaultGroupName=RadLens
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=RadLens-{#AppVersion}-setup
SetupIconFile=..\..\build\icons\radlens.ico
UninstallDisplayIcon={app}\radlens.exe
Compression=lzma2/ultra64
SolidCompression=yes
ChangesAssociations=yes
WizardStyle=modern

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\RadLens"; Filename: "{app}\radlens.exe"
Name: "{autodesktop}\RadLens"; Filename: "{app}\radlens.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "dcmassoc"; Description: "Open .dcm files with RadLens"; GroupDescription: "File associations:"

[Registry]
; .dcm -> RadLens.DICOM (per user or per machine, following the install mode)
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "RadLens.DICOM"; ValueData: ""; Flags: uninsdeletevalue; Tasks: dcmassoc
Root: HKA; Subkey: "Software\Classes\RadLens.DICOM"; ValueType: string; ValueName: ""; ValueData: "DICOM image"; Flags: uninsdeletekey; Tasks: dcmassoc
Root: HKA; Subkey: "Software\Classes\RadLens.DICOM\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\radlens.exe,0"; Tasks: dcmassoc
Root: HKA; Subkey: "Software\Classes\RadLens.DICOM\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\radlens.exe"" view ""%1"""; Tasks: dcmassoc
; "Open in RadLens" on folders (DICOM folders)
Root: HKA; Subkey: "Software\Classes\Directory\shell\RadLens"; ValueType: string; ValueName: ""; ValueData: "Open in RadLens"; Flags: uninsdeletekey; Tasks: dcmassoc
Root: HKA; Subkey: "Software\Classes\Directory\shell\RadLens\command"; ValueType: string; ValueName: ""; ValueData: """{app}\radlens.exe"" view ""%1"""; Tasks: dcmassoc

[Run]
Filename: "{app}\radlens.exe"; Description: "{cm:LaunchProgram,RadLens}"; Flags: nowait postinstall skipifsilent
