/* A stand-in for Windows' bcryptprimitives.dll, for running LANrage's Windows build under
 * Wine 8 in tests only. Rust's standard library gets its random numbers from ProcessPrng,
 * which Windows 10 and 11 have and Wine 8 lacks; RtlGenRandom (advapi32's SystemFunction036)
 * gives the same. Never shipped: the installer does not contain it. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
