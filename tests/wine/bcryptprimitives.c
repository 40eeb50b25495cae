/*
 * For Wine in tests only: never shipped, never needed on Windows.
 *
 * Rust's standard library (1.78+) takes its random bytes from
 * ProcessPrng in bcryptprimitives.dll, which Wine 8 lacks: without this
 * DLL a Rust .exe under Wine 8 exits (code 53) before main. This stand-in
 * exports ProcessPrng and fills the buffer from RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine has, in chunks because
 * RtlGenRandom takes a ULONG length.
 *
 * scripts/windows builds it with mingw-w64 and puts it in the test Wine
 * prefix's system32, so the .exe files themselves stay as shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
