/*
 * Test-only stand-in for Windows' bcryptprimitives.dll, for Wine older than 8.13.
 *
 * Rust's std (1.78 and newer) imports ProcessPrng from bcryptprimitives.dll, which ships
 * with Windows 10 / Server 2016 and later but which Wine added only in 8.13 (Debian 12 has
 * Wine 8.0). The tests put this DLL beside the Windows build when the Wine prefix has no
 * bcryptprimitives.dll of its own; it is never shipped.
 *
 * ProcessPrng (Microsoft: "Always returns TRUE") fills the buffer from the system RNG;
 * RtlGenRandom (advapi32 SystemFunction036) does the same for up to ULONG_MAX bytes.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG step = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, step))
            return FALSE;
        data += step;
        length -= step;
    }
    return TRUE;
}
