using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Sealing a packet whose stream data is still in a send ring (pieces encrypted from the ring into the payload) gives
/// exactly the packet that copying the data in first and sealing in place gives — header protection included.
/// </summary>
public class SealGatheredTests
{
    [Theory]
    [InlineData(0x1301)] // TLS_AES_128_GCM_SHA256
    [InlineData(0x1302)] // TLS_AES_256_GCM_SHA384
    [InlineData(0x1307)] // TLS_AEGIS_128L_SHA256
    public void Gathered_seal_equals_copy_then_seal(int suiteId)
    {
        var suite = QuicCipherSuite.From((OspBridge.Crypto.Tls.Tls13CipherSuite)suiteId);
        var rng = new Random(suiteId);
        var secret = new byte[suite.HashLength];
        rng.NextBytes(secret);
        using var keys = new PacketKeys(suite, secret);
        Assert.True(keys.CanGather, "AES-GCM on libcrypto and AEGIS-128L must gather on this machine");
        var ring = new byte[1 << 16];
        rng.NextBytes(ring);
        for (int trial = 0; trial < 300; trial++)
        {
            int pnLength = rng.Next(1, 5);
            int headerLength = rng.Next(pnLength + 1, 30); // first byte, connection ID, packet number
            int payloadLength = rng.Next(24, 16000);
            int packetLength = headerLength + payloadLength + PacketKeys.TagLength;
            var template = new byte[packetLength];
            rng.NextBytes(template);
            template[0] = (byte)(0x40 | (pnLength - 1)); // short header
            // Up to 4 non-overlapping runs of the payload come from the ring, one of them wrapping around its end.
            var pieces = new List<SealPiece>();
            int pos = 0;
            int runs = rng.Next(1, 5);
            for (int r = 0; r < runs && pos < payloadLength - 2; r++)
            {
                int gap = rng.Next(0, Math.Min(40, payloadLength - pos - 1));
                int start = pos + gap;
                int length = rng.Next(1, payloadLength - start + 1);
                int index = r == 1 ? ring.Length - rng.Next(1, Math.Max(2, Math.Min(length, 100))) : rng.Next(0, ring.Length - length);
                if (index + length > ring.Length)
                {
                    int first = ring.Length - index;
                    pieces.Add(new SealPiece { Offset = start, Length = first, Source = ring, SourceIndex = index });
                    pieces.Add(new SealPiece { Offset = start + first, Length = length - first, Source = ring, SourceIndex = 0 });
                }
                else pieces.Add(new SealPiece { Offset = start, Length = length, Source = ring, SourceIndex = index });
                pos = start + length;
            }
            // reference: copy the ring bytes into the payload, then seal in place
            var copied = (byte[])template.Clone();
            foreach (var p in pieces) ring.AsSpan(p.SourceIndex, p.Length).CopyTo(copied.AsSpan(headerLength + p.Offset));
            ulong pn = (ulong)rng.NextInt64(0, 1L << 40);
            int pnOffset = headerLength - pnLength;
            int expectedLength = PacketProtector.Protect(keys, copied, pnOffset, pnLength, pn, payloadLength);
            // gathered: the payload runs hold garbage; the seal must read the ring, never them
            var gathered = (byte[])template.Clone();
            foreach (var p in pieces) gathered.AsSpan(headerLength + p.Offset, p.Length).Fill(0xEE);
            int length2 = PacketProtector.Protect(keys, gathered, pnOffset, pnLength, pn, payloadLength, pieces.ToArray());
            Assert.Equal(expectedLength, length2);
            Assert.True(copied.AsSpan().SequenceEqual(gathered), $"gathered packet differs (trial {trial}, {pieces.Count} pieces, payload {payloadLength})");
        }
    }
}
