#!/usr/bin/env python3
"""Independent cross-check of tests/vectors/spake2.json (see docs/spake2.md, "How the vectors were checked").

Written for this check only, with nothing but the Python standard library (hashlib, hmac): minimal affine
edwards25519 and P-256 arithmetic, not the C# implementation and not libsodium/BouncyCastle. It
  1. regenerates RFC 9382's M and N for both groups from their seeds (RFC 9382 Appendix A procedure),
  2. recomputes every field of every vector in spake2.json from (suite, pw, A, B, w, x, y) and compares,
  3. with --emit-edwards, prints the edwards25519 entries of our OSP profile from their fixed inputs.
Slow big-integer arithmetic on purpose (clarity over speed); it is never used by the product.
Usage: python3 tests/vectors/spake2_check.py [--emit-edwards]
"""
import hashlib
import hmac
import json
import os
import sys

# ---------------------------------------------------------------- edwards25519 (RFC 8032 §5.1), affine
EP = 2**255 - 19
EL = 2**252 + 27742317777372353535851937790883648493
ED = (-121665 * pow(121666, EP - 2, EP)) % EP
SQRT_M1 = pow(2, (EP - 1) // 4, EP)
E_ID = (0, 1)


def e_add(P, Q):
    (x1, y1), (x2, y2) = P, Q
    t = ED * x1 * x2 * y1 * y2 % EP
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, EP - 2, EP) % EP
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, EP - 2, EP) % EP
    return (x3, y3)


def e_neg(P):
    return ((-P[0]) % EP, P[1])


def e_mul(k, P):
    R = E_ID
    while k:
        if k & 1:
            R = e_add(R, P)
        P = e_add(P, P)
        k >>= 1
    return R


def e_decode(s):
    """RFC 8032 §5.1.3 decoding; None for a non-canonical or off-curve string."""
    if len(s) != 32:
        return None
    v = int.from_bytes(s, 'little')
    sign, y = v >> 255, v & ((1 << 255) - 1)
    if y >= EP:
        return None
    u, w = (y * y - 1) % EP, (ED * y * y + 1) % EP
    x = u * pow(w, 3, EP) * pow(u * pow(w, 7, EP), (EP - 5) // 8, EP) % EP
    if w * x * x % EP == u:
        pass
    elif w * x * x % EP == (-u) % EP:
        x = x * SQRT_M1 % EP
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = EP - x
    return (x, y)


def e_encode(P):
    x, y = P
    return (y | ((x & 1) << 255)).to_bytes(32, 'little')


E_BASE = e_decode(bytes.fromhex('5866666666666666666666666666666666666666666666666666666666666666'))

# ---------------------------------------------------------------- P-256 (SEC 2), affine, None = infinity
PP = 2**256 - 2**224 + 2**192 + 2**96 - 1
PN = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
PB = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
PG = (0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
      0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)


def p_add(P, Q):
    if P is None:
        return Q
    if Q is None:
        return P
    (x1, y1), (x2, y2) = P, Q
    if x1 == x2 and (y1 + y2) % PP == 0:
        return None
    if P == Q:
        lam = (3 * x1 * x1 - 3) * pow(2 * y1, PP - 2, PP) % PP
    else:
        lam = (y2 - y1) * pow(x2 - x1, PP - 2, PP) % PP
    x3 = (lam * lam - x1 - x2) % PP
    return (x3, (lam * (x1 - x3) - y1) % PP)


def p_neg(P):
    return None if P is None else (P[0], (-P[1]) % PP)


def p_mul(k, P):
    R = None
    while k:
        if k & 1:
            R = p_add(R, P)
        P = p_add(P, P)
        k >>= 1
    return R


def p_on_curve(P):
    x, y = P
    return (y * y - (x * x * x - 3 * x + PB)) % PP == 0


def p_decode(s):
    """SEC1 compressed (33 bytes) or uncompressed (65 bytes); None when not a curve point."""
    if len(s) == 65 and s[0] == 4:
        x, y = int.from_bytes(s[1:33], 'big'), int.from_bytes(s[33:], 'big')
        if x >= PP or y >= PP or not p_on_curve((x, y)):
            return None
        return (x, y)
    if len(s) == 33 and s[0] in (2, 3):
        x = int.from_bytes(s[1:], 'big')
        if x >= PP:
            return None
        rhs = (x * x * x - 3 * x + PB) % PP
        y = pow(rhs, (PP + 1) // 4, PP)
        if y * y % PP != rhs:
            return None
        if y & 1 != s[0] & 1:
            y = PP - y
        return (x, y)
    return None


def p_encode(P):
    return b'\x04' + P[0].to_bytes(32, 'big') + P[1].to_bytes(32, 'big')


# ---------------------------------------------------------------- RFC 9382 Appendix A: M and N from their seeds
def iterated_hash(seed, n):
    h = seed
    for _ in range(n):
        h = hashlib.sha256(h).digest()
    return h


def bighash(seed, start, size):
    n = -(-size // 32)
    return b''.join(iterated_hash(seed, i) for i in range(start, start + n))[:size]


def gen_point(seed, group):
    for i in range(1, 1000):
        if group == 'edwards25519':
            s = bighash(seed, i, 32)
            P = e_decode(s)
            if P is not None and P != E_ID and e_mul(EL, P) == E_ID:
                return s
        else:
            s = bighash(seed, i, 33)
            s = bytes([(s[0] & 1) | 2]) + s[1:]
            P = p_decode(s)
            if P is not None and p_mul(PN, P) is None:
                return s
    raise ValueError('no point')


E_M_HEX = 'd048032c6ea0b6d697ddc2e86bda85a33adac920f1bf18e1b0c6d166a5cecdaf'
E_N_HEX = 'd3bfb518f44f3430f29d0c92af503865a1ed3281dc69b35dd868ba85f886c4ab'
P_M_HEX = '02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f'
P_N_HEX = '03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49'

# ---------------------------------------------------------------- the protocol (RFC 9382 §3, §4)
ED_SUITE = 'edwards25519-SHA256-HKDF-HMAC-SHA256'
P_SUITE = 'P256-SHA256-HKDF-HMAC-SHA256'


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, i = b'', b'', 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def lp(b):
    return len(b).to_bytes(8, 'little') + b


def run(suite, pw, A, B, w, x, y):
    """Every field of a vector. w may be None (then computed from pw per our profile, docs/spake2.md)."""
    if suite == ED_SUITE:
        if w is None:
            w = (int.from_bytes(hashlib.sha512(pw).digest(), 'little') % EL).to_bytes(32, 'little')
        wi, xi, yi = (int.from_bytes(v, 'little') for v in (w, x, y))
        M, N = e_decode(bytes.fromhex(E_M_HEX)), e_decode(bytes.fromhex(E_N_HEX))
        pA = e_add(e_mul(wi, M), e_mul(xi, E_BASE))
        pB = e_add(e_mul(wi, N), e_mul(yi, E_BASE))
        # Both sides with the cofactor h = 8, as the protocol computes them.
        Ka = e_mul(8 * xi, e_add(pB, e_neg(e_mul(wi, N))))
        Kb = e_mul(8 * yi, e_add(pA, e_neg(e_mul(wi, M))))
        assert Ka == Kb and Ka != E_ID
        pA, pB, K = e_encode(pA), e_encode(pB), e_encode(Ka)
    else:
        if w is None:
            w = (int.from_bytes(hashlib.sha512(pw).digest(), 'big') % PN).to_bytes(32, 'big')
        wi, xi, yi = (int.from_bytes(v, 'big') for v in (w, x, y))
        M, N = p_decode(bytes.fromhex(P_M_HEX)), p_decode(bytes.fromhex(P_N_HEX))
        pA = p_add(p_mul(wi, M), p_mul(xi, PG))
        pB = p_add(p_mul(wi, N), p_mul(yi, PG))
        Ka = p_mul(xi, p_add(pB, p_neg(p_mul(wi, N))))
        Kb = p_mul(yi, p_add(pA, p_neg(p_mul(wi, M))))
        assert Ka == Kb and Ka is not None
        pA, pB, K = p_encode(pA), p_encode(pB), p_encode(Ka)
    TT = lp(A) + lp(B) + lp(pA) + lp(pB) + lp(K) + lp(w)
    h = hashlib.sha256(TT).digest()
    Ke, Ka_ = h[:16], h[16:]
    kc = hkdf_sha256(Ka_, b'', b'ConfirmationKeys', 32)
    KcA, KcB = kc[:16], kc[16:]
    cA = hmac.new(KcA, TT, hashlib.sha256).digest()
    cB = hmac.new(KcB, TT, hashlib.sha256).digest()
    return dict(suite=suite, pw=pw, A=A, B=B, w=w, x=x, y=y, pA=pA, pB=pB, K=K, TT=TT, Ke=Ke, Ka=Ka_,
                KcA=KcA, KcB=KcB, cA=cA, cB=cB)


FIELDS = ['suite', 'pw', 'A', 'B', 'w', 'x', 'y', 'pA', 'pB', 'K', 'TT', 'Ke', 'Ka', 'KcA', 'KcB', 'cA', 'cB']


def as_json(v):
    return {f: (v[f] if f == 'suite' else v[f].hex()) for f in FIELDS}


# ---------------------------------------------------------------- our OSP-profile edwards25519 vectors
def edwards_inputs():
    """Fixed inputs: real-looking 32-byte fingerprints (SHA-256 of a label) and scalars SHA-512(label) mod L."""
    def fp(label):
        return hashlib.sha256(label.encode()).digest()

    def scalar(label):
        return (int.from_bytes(hashlib.sha512(label.encode()).digest(), 'little') % EL).to_bytes(32, 'little')
    pins = ['61488548833', '1048575', '1208925819614629174706175', '123456789012', '0']
    out = []
    for i, pin in enumerate(pins, 1):
        out.append((pin.encode('ascii'), fp(f'ospbridge spake2 vector {i} client SPKI'),
                    fp(f'ospbridge spake2 vector {i} server SPKI'),
                    scalar(f'ospbridge spake2 vector {i} x'), scalar(f'ospbridge spake2 vector {i} y')))
    return out


def main():
    for seed, group, want in [(b'edwards25519 point generation seed (M)', 'edwards25519', E_M_HEX),
                              (b'edwards25519 point generation seed (N)', 'edwards25519', E_N_HEX),
                              (b'1.2.840.10045.3.1.7 point generation seed (M)', 'P-256', P_M_HEX),
                              (b'1.2.840.10045.3.1.7 point generation seed (N)', 'P-256', P_N_HEX)]:
        got = gen_point(seed, group).hex()
        assert got == want, (seed, got)
    print('M and N regenerated from their RFC 9382 seeds: ok')

    if '--emit-edwards' in sys.argv:
        print(json.dumps([as_json(run(ED_SUITE, *inp[:3], None, *inp[3:])) for inp in edwards_inputs()], indent=2))
        return

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'spake2.json')
    with open(path) as f:
        vectors = json.load(f)
    for i, v in enumerate(vectors):
        b = {k: (v[k] if k == 'suite' else bytes.fromhex(v[k])) for k in FIELDS}
        # RFC vectors give w (pw is empty); ours give pw, and w must be our profile's SHA-512(pw) mod p.
        got = run(b['suite'], b['pw'], b['A'], b['B'], None if b['pw'] else b['w'], b['x'], b['y'])
        bad = [k for k in FIELDS if got[k] != b[k]]
        assert not bad, f'vector {i} ({v["suite"]}): mismatch in {bad}'
        print(f'vector {i} {v["suite"]}: all {len(FIELDS)} fields recomputed: ok')
    print(f'{len(vectors)} vectors checked')


if __name__ == '__main__':
    main()
