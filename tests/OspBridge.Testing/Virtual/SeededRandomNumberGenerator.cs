using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.Testing.Virtual;

/// <summary>
/// A deterministic <see cref="RandomNumberGenerator"/> for tests: the same seed gives the same byte
/// stream on every run and platform, so a core's randomness (connection IDs, probe delays, ICE
/// tie-breakers, nonces) is reproducible under <see cref="VirtualNetwork"/>.
/// </summary>
/// <remarks>
/// <b>NOT for production and NOT cryptographically secure</b>: the output of xoshiro256** seeded through
/// SplitMix64 is predictable from the seed and from a few outputs. It lives in the test library only.
/// Cores must draw from the instance they were given (<c>rng.GetBytes(span)</c>); the static helpers
/// <see cref="RandomNumberGenerator.Fill"/> and <see cref="RandomNumberGenerator.GetInt32(int)"/> use the
/// system generator and bypass this one.
/// </remarks>
public sealed class SeededRandomNumberGenerator : RandomNumberGenerator
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator whose stream is fixed by <paramref name="seed"/>.</summary>
    public SeededRandomNumberGenerator(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The seed this generator started from (print it when a test fails).</summary>
    public ulong Seed { get; }

    /// <summary>Bytes handed out so far.</summary>
    public long BytesGenerated { get; private set; }

    /// <inheritdoc/>
    public override void GetBytes(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        GetBytes(data.AsSpan());
    }

    /// <inheritdoc/>
    public override void GetBytes(byte[] data, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(data);
        GetBytes(data.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public override void GetBytes(Span<byte> data)
    {
        Span<byte> word = stackalloc byte[8];
        while (data.Length >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(data, Next());
            data = data[8..];
            BytesGenerated += 8;
        }
        if (data.Length > 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, Next());
            word[..data.Length].CopyTo(data);
            BytesGenerated += data.Length;
        }
    }

    /// <inheritdoc/>
    public override void GetNonZeroBytes(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        GetNonZeroBytes(data.AsSpan());
    }

    /// <inheritdoc/>
    public override void GetNonZeroBytes(Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            byte b;
            do { b = (byte)Next(); } while (b == 0);
            data[i] = b;
            BytesGenerated++;
        }
    }

    /// <summary>The next 64 random bits (xoshiro256**).</summary>
    public ulong NextUInt64()
    {
        BytesGenerated += 8;
        return Next();
    }

    private ulong Next()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
