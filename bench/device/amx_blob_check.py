"""Checks and times the AMX kernel blob (src/main/resources/io/moeprune/kernels/amx_bf16.bin) from Python on the GPU
machine's Xeon, before any Java calls it: maps it executable, requests AMX tile state (arch_prctl), multiplies random
BF16 weights by F32 activations split hi + lo, and compares with a float64 product."""
import ctypes, mmap, time
import torch

torch.manual_seed(0)
blob = open('src/main/resources/io/moeprune/kernels/amx_bf16.bin', 'rb').read()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
r = libc.syscall(ctypes.c_long(158), ctypes.c_long(0x1023), ctypes.c_long(18))
print('arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) =', r, 'errno', ctypes.get_errno())
m = mmap.mmap(-1, 8192, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(blob)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
P, L = ctypes.c_void_p, ctypes.c_long
fn = ctypes.CFUNCTYPE(None, P, P, L, P, P, L, P, L, L, L, L)(addr)
cfg = bytearray(64)
cfg[0] = 1
for i in range(8):
    cfg[16 + 2 * i] = 64
    cfg[48 + i] = 16
cfgbuf = (ctypes.c_char * 64).from_buffer(cfg)


def pack(x):  # x [K, T] float32 -> int32 view [K/2, T] of bf16 pairs
    K, T = x.shape
    return x.to(torch.bfloat16).reshape(K // 2, 2, T).permute(0, 2, 1).contiguous()


def run(rows, K, T, reps=0):
    w = (torch.randn(rows, K) * 0.05).to(torch.bfloat16).contiguous()
    x = torch.randn(K, T)
    hi = x.to(torch.bfloat16).float()
    lo = x - hi
    bhi, blo = pack(hi), pack(lo)
    c = torch.full((rows, T), float('nan'))
    args = (ctypes.addressof(cfgbuf), w.data_ptr(), K * 2, bhi.data_ptr(), blo.data_ptr(), T * 4, c.data_ptr(), T * 4,
            rows, T, K)
    fn(*args)
    ref = w.double() @ x.double()
    err = ((c.double() - ref).norm() / ref.norm()).item()
    hionly = ((w.double() @ hi.double() - ref).norm() / ref.norm()).item()
    line = f'rows {rows:5d} K {K:5d} T {T:4d}: rel err {err:.2e} (hi only would be {hionly:.2e})'
    if reps:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        dt = (time.perf_counter() - t0) / reps
        torch.set_num_threads(1)
        xb = x.to(torch.bfloat16)
        for _ in range(3):
            w @ xb
        t0 = time.perf_counter()
        for _ in range(reps):
            w @ xb
        dtt = (time.perf_counter() - t0) / reps
        line += f'; {2 * rows * K * T / dt / 1e9:7.1f} GFLOP/s (torch bf16 1 thread {2 * rows * K * T / dtt / 1e9:7.1f})'
    print(line, flush=True)
    return err


worst = 0
for rows, K, T in [(16, 32, 16), (32, 64, 32), (48, 96, 48), (16, 2048, 32), (768, 2048, 16), (768, 2048, 32),
                   (2048, 768, 32), (64, 4096, 80)]:
    worst = max(worst, run(rows, K, T))
print('worst rel err', worst)
for rows, K, T in [(768, 2048, 16), (768, 2048, 32), (768, 2048, 64), (2048, 768, 32), (2048, 2048, 64), (256, 2048, 32)]:
    run(rows, K, T, reps=50)
