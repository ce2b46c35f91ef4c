using System.Security.Cryptography;

namespace OspBridge.WebRtc.Tests;

/// <summary>
/// A deterministic <see cref="RandomNumberGenerator"/> for these tests (same seed, same bytes). Not secure; test-only.
/// (A shared one is planned for OspBridge.Testing; this private one keeps the WebRTC tests independent of it.)
/// </summary>
internal sealed class SeededRandom(int seed) : RandomNumberGenerator
{
    private readonly Random _random = new(seed);

    public override void GetBytes(byte[] data) => _random.NextBytes(data);

    public override void GetBytes(byte[] data, int offset, int count) => _random.NextBytes(data.AsSpan(offset, count));

    public override void GetBytes(Span<byte> data) => _random.NextBytes(data);

    public override void GetNonZeroBytes(byte[] data) => GetNonZeroBytes(data.AsSpan());

    public override void GetNonZeroBytes(Span<byte> data)
    {
        _random.NextBytes(data);
        for (int i = 0; i < data.Length; i++) while (data[i] == 0) data[i] = (byte)_random.Next(256);
    }
}
