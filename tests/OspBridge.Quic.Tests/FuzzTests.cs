using System.Diagnostics;
using OspBridge.Net.Core;
using OspBridge.Quic.Core;
using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Tests.Support;
using OspBridge.Quic.Transport;
using OspBridge.Testing.Virtual;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Mutation fuzzing (fixed seeds, bounded count and time) of packet headers, frames, transport parameters and a
/// connected core's receive path: only <see cref="QuicException"/> may escape, never hang, bounded allocation.
/// </summary>
public class FuzzTests
{
    private static byte[] Mutate(Random rng, byte[] seed)
    {
        var d = (byte[])seed.Clone();
        int ops = rng.Next(1, 6);
        for (int i = 0; i < ops; i++)
        {
            switch (rng.Next(4))
            {
                case 0: if (d.Length > 0) d[rng.Next(d.Length)] ^= (byte)(1 << rng.Next(8)); break;
                case 1: if (d.Length > 0) d[rng.Next(d.Length)] = (byte)rng.Next(256); break;
                case 2: d = d[..rng.Next(d.Length + 1)]; break;
                default: { var ins = new byte[rng.Next(1, 9)]; rng.NextBytes(ins); int at = rng.Next(d.Length + 1); d = [.. d[..at], .. ins, .. d[at..]]; break; }
            }
        }
        return d;
    }

    private static byte[] FrameCorpus()
    {
        var buf = new byte[512];
        var w = new QuicWriter(buf);
        var ranges = new RangeSet(); ranges.Add(0, 3); ranges.Add(7, 9);
        PingFrame.TryWrite(ref w);
        AckFrame.TryWrite(ref w, ranges, 5);
        new StreamFrame { StreamId = 0, Offset = 3, Data = "abc"u8 }.TryWrite(ref w);
        new CryptoFrame { Offset = 0, Data = "xy"u8 }.TryWrite(ref w);
        new MaxStreamsFrame { Bidirectional = true, MaximumStreams = 9 }.TryWrite(ref w);
        new NewConnectionIdFrame { SequenceNumber = 1, ConnectionId = new byte[8], StatelessResetToken = new byte[16] }.TryWrite(ref w);
        new ConnectionCloseFrame { ErrorCode = 1, Reason = "r"u8 }.TryWrite(ref w);
        new ResetStreamFrame { StreamId = 0, ErrorCode = 1, FinalSize = 6 }.TryWrite(ref w);
        new DatagramFrame { Data = "d"u8 }.TryWrite(ref w);
        return w.Written.ToArray();
    }

    /// <summary>Parses a frame sequence the way the core does, returning normally or via QuicException.</summary>
    private static int ParseAll(ReadOnlySpan<byte> payload)
    {
        var r = new QuicReader(payload);
        int frames = 0;
        while (!r.End && frames < 10_000)
        {
            if (!r.TryReadVarint(out ulong t)) throw QuicException.Transport(TransportErrorCode.FrameEncodingError, "type");
            bool ok = (FrameType)t switch
            {
                FrameType.Padding => Skip(ref r),
                FrameType.Ping or FrameType.HandshakeDone => true,
                FrameType.Ack or FrameType.AckEcn => AckFrame.TryRead(ref r, t == 3, out var a) && Walk(a),
                FrameType.ResetStream => ResetStreamFrame.TryRead(ref r, out _),
                FrameType.StopSending => StopSendingFrame.TryRead(ref r, out _),
                FrameType.Crypto => CryptoFrame.TryRead(ref r, out _),
                FrameType.NewToken => NewTokenFrame.TryRead(ref r, out _),
                >= FrameType.Stream and <= (FrameType)0x0f => StreamFrame.TryRead(ref r, (byte)t, out _),
                FrameType.MaxData => MaxDataFrame.TryRead(ref r, out _),
                FrameType.MaxStreamData => MaxStreamDataFrame.TryRead(ref r, out _),
                FrameType.MaxStreamsBidi or FrameType.MaxStreamsUni => MaxStreamsFrame.TryRead(ref r, t == 0x12, out _),
                FrameType.DataBlocked => DataBlockedFrame.TryRead(ref r, out _),
                FrameType.StreamDataBlocked => StreamDataBlockedFrame.TryRead(ref r, out _),
                FrameType.StreamsBlockedBidi or FrameType.StreamsBlockedUni => StreamsBlockedFrame.TryRead(ref r, t == 0x16, out _),
                FrameType.NewConnectionId => NewConnectionIdFrame.TryRead(ref r, out _),
                FrameType.RetireConnectionId => RetireConnectionIdFrame.TryRead(ref r, out _),
                FrameType.PathChallenge => PathChallengeFrame.TryRead(ref r, out _),
                FrameType.PathResponse => PathResponseFrame.TryRead(ref r, out _),
                FrameType.ConnectionClose or FrameType.ConnectionCloseApp => ConnectionCloseFrame.TryRead(ref r, t == 0x1d, out _),
                FrameType.Datagram or FrameType.DatagramLen => DatagramFrame.TryRead(ref r, t == 0x31, out _),
                _ => false,
            };
            if (!ok) throw QuicException.Transport(TransportErrorCode.FrameEncodingError, "frame");
            frames++;
        }
        return frames;

        static bool Skip(ref QuicReader r) { PaddingFrame.Skip(ref r); return true; }
        static bool Walk(AckFrame a) { int n = 0; foreach (var x in a.GetRanges()) { Assert.True(x.End > x.Start); n++; } return n >= 1; }
    }

    [Fact]
    public void Frames_MutationFuzz()
    {
        var rng = new Random(12345);
        var corpus = FrameCorpus();
        Assert.Equal(9, ParseAll(corpus));
        var sw = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        int rejected = 0;
        for (int i = 0; i < 50_000; i++)
        {
            var m = Mutate(rng, corpus);
            try { ParseAll(m); }
            catch (QuicException) { rejected++; }
        }
        Assert.True(rejected > 1000);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 200_000_000);
    }

    [Fact]
    public void PacketHeaders_And_TransportParameters_MutationFuzz()
    {
        var rng = new Random(777);
        var initial = Convert.FromHexString("c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399");
        var tp = new TransportParameters { InitialMaxData = 100, InitialSourceConnectionId = [1, 2, 3], MaxDatagramFrameSize = 5 }.Encode();
        for (int i = 0; i < 30_000; i++)
        {
            var m = Mutate(rng, initial);
            if (PacketHeader.TryParse(m, 8, out var h))
            {
                Assert.InRange(h.PacketLength, 1, m.Length);
                Assert.InRange(h.DcidOffset + h.DcidLength, 0, m.Length);
                if (h.IsLong && h.Version == 1 && h.Type != LongPacketType.Retry) Assert.InRange(h.PnOffset, 0, h.PacketLength);
            }
            var t = Mutate(rng, tp);
            try { TransportParameters.Decode(t, rng.Next(2) == 0); } catch (QuicException) { }
        }
    }

    [Fact]
    public void ConnectedCore_ReceivePath_MutationFuzz()
    {
        // Capture real 1-RTT datagrams, then feed mutated copies to the peer core: it must only drop packets or
        // close with a transport error, never throw or hang.
        var pair = new QuicPair();
        Assert.True(pair.Handshake());
        long id = pair.Client.OpenStream(true);
        pair.Client.StreamWrite(id, new byte[5000], true);
        var buf = new byte[1500];
        var captured = new List<byte[]>();
        while (pair.Client.TryPollTransmit(buf, pair.Now, out var tx)) captured.Add(buf[..tx.Length]);
        Assert.NotEmpty(captured);
        var rng = new Random(4242);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 20_000 && sw.Elapsed < TimeSpan.FromSeconds(60); i++)
        {
            var m = Mutate(rng, captured[rng.Next(captured.Count)]);
            pair.Server!.Receive(m, DatagramPath.To(QuicPair.ClientAddress), pair.Now);
            pair.Server.TryPollTransmit(buf, pair.Now, out _);
            pair.Server.HandleDeadline(pair.Now);
        }
        // A fresh server accepting mutated Initials
        var rng2 = new SeededRandomNumberGenerator(77);
        for (int i = 0; i < 3000; i++)
        {
            var p2 = new QuicPair(clientOptions: new CoreOptions { Random = new SeededRandomNumberGenerator((ulong)i + 100) });
            var first = new byte[1500];
            Assert.True(p2.Client.TryPollTransmit(first, p2.Now, out var tx));
            int n = tx.Length;
            var m = Mutate(rng, first[..n]);
            var resp = new byte[1500];
            if (ServerAccept.Inspect(m, null, false, [1, 2], p2.Now, 8, rng2, resp, out _, out var info) == AcceptDecision.Accept)
            {
                var s = ServerAccept.CreateServer(new CoreOptions(), FakeTlsHandshake.Factory(false), info);
                s.Receive(m, DatagramPath.To(QuicPair.ClientAddress), p2.Now);
                s.TryPollTransmit(resp, p2.Now, out _);
            }
        }
    }
}
