using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>
/// Deterministic <see cref="RandomNumberGenerator"/> for the SCTP tests (SplitMix64 stream): the same seed gives the
/// same tags, TSNs and cookie secrets. Private stand-in until tests/OspBridge.Testing's SeededRandomNumberGenerator
/// is on main; NOT cryptographically secure.
/// </summary>
internal sealed class SeededRandomNumberGenerator(ulong seed) : RandomNumberGenerator
{
    private ulong _state = seed;

    public override void GetBytes(byte[] data) => GetBytes(data.AsSpan());

    public override void GetBytes(byte[] data, int offset, int count) => GetBytes(data.AsSpan(offset, count));

    public override void GetBytes(Span<byte> data)
    {
        Span<byte> word = stackalloc byte[8];
        while (data.Length > 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Next());
            int n = Math.Min(8, data.Length);
            word[..n].CopyTo(data);
            data = data[n..];
        }
    }

    public override void GetNonZeroBytes(byte[] data) => GetNonZeroBytes(data.AsSpan());

    public override void GetNonZeroBytes(Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            byte b;
            do { b = (byte)Next(); } while (b == 0);
            data[i] = b;
        }
    }

    private ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
