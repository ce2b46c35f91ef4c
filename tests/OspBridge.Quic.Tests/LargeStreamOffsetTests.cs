using OspBridge.Net.Simulation;
using OspBridge.Net.Wire;
using OspBridge.Quic.Core;
using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Tests.Support;

namespace OspBridge.Quic.Tests;

/// <summary>
/// STREAM frames larger than 16383 bytes (datagrams above 16 KiB) at stream offsets of 2^30 and beyond, where the
/// Offset varint takes 8 bytes and the Length varint 4 (session 13 regression: the sender reserved 8 + 2 bytes for
/// them, so such a frame overran its packet by 2 bytes; the core threw out of TryPollTransmit after the chunk was
/// already taken from the send buffer, the connection's loop stopped and the transfer stalled at ≈ 1 GiB until the
/// idle timeout).
/// </summary>
public class LargeStreamOffsetTests
{
    [Theory]
    [InlineData(2)] // type + stream ID 0, no Offset field
    [InlineData(6)] // type + 1-byte ID + 4-byte offset
    [InlineData(10)] // type + 1-byte ID + 8-byte offset (≥ 2^30)
    [InlineData(17)] // type + 8-byte ID + 8-byte offset
    public void MaxDataLength_FrameFitsTheRoomExactly_AcrossVarintBoundaries(int prefix)
    {
        foreach (int room in RoomsAround(prefix))
        {
            int data = StreamFrame.MaxDataLength(room, prefix);
            if (data == 0)
            {
                // not even one data byte (plus its 1-byte Length field) fits
                Assert.True(room - prefix <= 1, $"room {room}, prefix {prefix}: 0 data bytes");
                continue;
            }
            int written = prefix + QuicVarint.GetEncodedLength((ulong)data) + data;
            Assert.True(written <= room, $"room {room}, prefix {prefix}: {data} data bytes make a {written}-byte frame");
            // at most the Length field's growth is left unused (e.g. 16386 bytes after the prefix: a 4-byte field would
            // carry 16382 data bytes, whose field takes 2)
            int lengthField = QuicVarint.GetEncodedLength((ulong)(room - prefix));
            Assert.True(room - written <= lengthField / 2, $"room {room}, prefix {prefix}: {room - written} bytes unused");
        }
    }

    private static IEnumerable<int> RoomsAround(int prefix)
    {
        for (int r = 0; r <= prefix + 70; r++) yield return r;
        // where the Length field grows: 1 → 2 bytes (64 data bytes), 2 → 4 (16384), 4 → 8 (2^30)
        foreach (int boundary in new[] { 64, 16384, 1 << 30 })
            for (int d = -6; d <= 6; d++) yield return prefix + boundary + d;
        yield return 1452; yield return 16384; yield return 32768; yield return 65527;
    }

    [Fact]
    public void StreamFrame_32KiBAtOffset2To30_WrittenWithMaxDataLength_FitsAndRoundTrips()
    {
        const ulong streamId = 3, offset = 1UL << 30; // 1-byte ID, 8-byte offset
        var packet = new byte[32768 - 40]; // a 32 KiB datagram's payload room
        int prefix = 1 + QuicVarint.GetEncodedLength(streamId) + QuicVarint.GetEncodedLength(offset);
        int len = StreamFrame.MaxDataLength(packet.Length, prefix);
        Assert.True(len > 16383, $"{len}"); // a 4-byte Length field
        var data = new byte[len];
        new Random(30).NextBytes(data);
        var w = new QuicWriter(packet);
        Assert.True(new StreamFrame { StreamId = streamId, Offset = offset, Data = data }.TryWrite(ref w));
        Assert.Equal(packet.Length, w.Position); // fills the room exactly
        var r = new QuicReader(packet);
        Assert.True(r.TryReadVarint(out ulong type));
        Assert.True(StreamFrame.TryRead(ref r, (byte)type, out var f));
        Assert.Equal(offset, f.Offset);
        Assert.True(f.Data.SequenceEqual(data));
    }

    /// <summary>
    /// Two cores at 32 KiB datagrams (virtual time, no loss) move 1 GiB + 8 MiB on one stream: every datagram stays
    /// within the size, every byte arrives in order. Before the fix the sender threw ArgumentOutOfRangeException from
    /// TryPollTransmit at the first full-size packet past offset 2^30.
    /// </summary>
    [Fact]
    public void Cores_32KiBDatagrams_StreamCrossesOffset2To30_EveryByteArrivesInOrder()
    {
        const int mtu = 32768;
        const long size = (1L << 30) + (8 << 20);
        static CoreOptions Options() => new()
        {
            MaxDatagramSize = mtu, MaxUdpPayloadSize = mtu, // no discovery: both ends start at 32 KiB
            InitialMaxData = 32 << 20, InitialMaxStreamDataUni = 16 << 20,
            MaxConnectionWindow = 32 << 20, MaxStreamWindow = 16 << 20, StreamSendBufferLimit = 16 << 20,
        };
        var up = new VirtualLinkOptions { Seed = 1, Delay = TimeSpan.FromMilliseconds(1) };
        var down = new VirtualLinkOptions { Seed = 2, Delay = TimeSpan.FromMilliseconds(1) };
        var pair = new QuicPair(up, down, Options(), Options());
        int largest = 0;
        pair.Net.OnTransmit = (_, d, _) => largest = Math.Max(largest, d.Length);
        Assert.True(pair.Handshake(), "handshake");

        // the stream's byte at offset o is block[o % P]: writes and checks are slices of a doubled block
        const int P = 65521;
        var block = new byte[2 * P];
        new Random(1 << 30).NextBytes(block.AsSpan(0, P));
        block.AsSpan(0, P).CopyTo(block.AsSpan(P));
        long id = pair.Client.OpenStream(bidirectional: false);
        long written = 0, received = 0, sid = -1;
        bool fin = false, mismatch = false;
        var buf = new byte[1 << 17];
        bool ok = pair.RunUntil(() => fin || mismatch, TimeSpan.FromMinutes(10), maxSteps: 5_000_000, eachStep: () =>
        {
            while (written < size)
            {
                int n = (int)Math.Min(P, size - written);
                int w = pair.Client.StreamWrite(id, block.AsSpan((int)(written % P), n), fin: written + n == size);
                written += w;
                if (w < n) break;
            }
            if (sid < 0 && pair.Server!.TryAcceptStream(out long s)) sid = s;
            while (sid >= 0 && !fin && !mismatch)
            {
                int n = pair.Server!.StreamRead(sid, buf, pair.Now, out fin);
                for (int i = 0; i < n && !mismatch;)
                {
                    int start = (int)((received + i) % P), piece = Math.Min(n - i, P);
                    mismatch = !buf.AsSpan(i, piece).SequenceEqual(block.AsSpan(start, piece));
                    i += piece;
                }
                received += n;
                if (n == 0) break;
            }
        });
        Assert.False(mismatch, $"wrong bytes near offset {received}");
        Assert.True(ok, $"transfer incomplete: {received} of {size} at {pair.Now}, client {pair.Client.State}, server {pair.Server?.State}");
        Assert.Equal(size, received);
        Assert.Equal(mtu, pair.Client.CurrentMaxDatagramSize);
        Assert.Equal(mtu, largest); // full-size datagrams went, none larger
        Assert.True(pair.Client.DatagramsSent < size / 16384, $"{pair.Client.DatagramsSent} datagrams"); // i.e. mostly > 16 KiB
        Assert.Equal(0, pair.Client.PacketsLost);
    }
}
