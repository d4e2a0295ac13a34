/*
 * Test-only: starts a program the way a Windows service such as splunkd does, with
 * CreateProcessW on its full path (lpApplicationName) and the caller's stdin, stdout and
 * stderr handed down as inherited handles, then exits with the program's exit code.
 *
 *   spawn.exe <full path of the program> [arguments, already quoted as one string]
 *
 * CreateProcessW (Microsoft docs): lpApplicationName "must include the file name
 * extension; no default extension is assumed", so a path without ".exe" names exactly
 * that file, which the loader starts by its PE header.
 *
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -s -o spawn.exe spawn.c
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc < 2) {
        fwprintf(stderr, L"usage: spawn.exe <program> [arguments]\n");
        return 125;
    }
    /* The command line the child sees: its own path, quoted, then the arguments. */
    size_t size = wcslen(argv[1]) + (argc > 2 ? wcslen(argv[2]) : 0) + 8;
    wchar_t *command_line = HeapAlloc(GetProcessHeap(), 0, size * sizeof(wchar_t));
    if (command_line == NULL)
        return 125;
    swprintf(command_line, size, L"\"%ls\"%ls%ls", argv[1], argc > 2 ? L" " : L"",
             argc > 2 ? argv[2] : L"");

    STARTUPINFOW startup = {0};
    startup.cb = sizeof startup;
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION process;
    if (!CreateProcessW(argv[1], command_line, NULL, NULL, TRUE, 0, NULL, NULL, &startup,
                        &process)) {
        fwprintf(stderr, L"spawn.exe: CreateProcessW(%ls) failed: error %lu\n", argv[1],
                 GetLastError());
        return 126;
    }
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code = 125;
    GetExitCodeProcess(process.hProcess, &code);
    return (int)code;
}
