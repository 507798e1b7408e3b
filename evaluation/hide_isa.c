/* Hide AVX-512, VNNI and AMX from every library in a process, so that an AVX-512 machine runs the
 * AVX2 kernels an AVX2-only machine would (ONNX Runtime's MLAS, numpy, BLIS under spaCy all pick their
 * kernels by the CPUID instruction). Loaded by evaluation/hide_isa.py through LD_PRELOAD.
 *
 * Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, /proc/cpuinfo flag cpuid_fault) makes every CPUID
 * instruction of this thread, and of the threads it starts, raise SIGSEGV. The handler runs the real
 * CPUID, clears the hidden feature bits and steps over the instruction. Set once before main, so every
 * thread created later inherits it. The dynamic loader's own CPUID, before this runs, is not masked:
 * glibc's string functions may still use their AVX-512 variants. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_GET_CPUID
#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#endif

/* CPUID.(EAX=7,ECX=0): AVX512F, DQ, IFMA, PF, ER, CD, BW, VL */
#define HIDE7_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
/* VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ */
#define HIDE7_ECX ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
/* 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8 */
#define HIDE7_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25))
/* CPUID.(EAX=7,ECX=1).EAX: AVX-VNNI, AVX512-BF16 */
#define HIDE71_EAX ((1u << 4) | (1u << 5))
/* CPUID.(EAX=0xD,ECX=0).EAX: the opmask and ZMM state components */
#define HIDE_D_EAX (0xE0u)

static volatile unsigned long trapped;

static long set_cpuid(unsigned long on) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, on); }

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = (ucontext_t *)context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    (void)info;
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault: let it happen again, undisturbed */
        signal(sig, SIG_DFL);
        return;
    }
    unsigned int leaf = (unsigned int)r[REG_RAX], sub = (unsigned int)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    if (leaf == 7 && sub == 0) {
        b &= ~HIDE7_EBX;
        c &= ~HIDE7_ECX;
        d &= ~HIDE7_EDX;
    } else if (leaf == 7 && sub == 1) {
        a &= ~HIDE71_EAX;
    } else if (leaf == 0xD && sub == 0) {
        a &= ~HIDE_D_EAX;
    }
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
    trapped++;
}

static void report(void) {
    if (getenv("HIDE_ISA_VERBOSE")) fprintf(stderr, "hide_isa: %lu CPUID instructions masked\n", trapped);
}

__attribute__((constructor)) static void hide_isa_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0 || set_cpuid(0) != 0) {
        fprintf(stderr, "hide_isa: CPUID faulting is not available on this machine (no cpuid_fault flag)\n");
        _exit(3);
    }
    atexit(report);
}
