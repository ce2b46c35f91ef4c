using System.Buffers.Binary;
using System.Diagnostics;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;
using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>Mutation fuzzing (fixed seeds) of the SCTP packet and chunk parsers, standalone and inside live associations.</summary>
public class SctpFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly byte[] Key = new byte[32];
    private static readonly ushort[] U16Values = [0, 1, 3, 4, 5, 0x7fff, 0x8000, 0xffff];
    private static readonly uint[] U32Values = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
    private static readonly byte[] ChunkTypes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 130, 192, 0x3f, 0x7f, 0xbf, 0xff];

    /// <summary>Real packets from a scripted session (B to A): SACKs, DATA of all shapes, FORWARD-TSN, RE-CONFIG, HEARTBEAT, SHUTDOWN...</summary>
    internal static List<byte[]> Corpus()
    {
        var corpus = new List<byte[]>();
        var p = new SctpTestPair(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144, HeartbeatInterval = TimeSpan.FromSeconds(1) },
            new SctpOptions { RemoteMaxMessageSize = 262_144, HeartbeatInterval = TimeSpan.FromSeconds(1) },
            new VirtualLinkOptions { Seed = 1 },
            new VirtualLinkOptions { Seed = 2, LossRate = 0.2, Filter = d => { corpus.Add(d.ToArray()); return true; } });
        p.ConnectBoth();
        p.B.Send(1, 51, "hello"u8, SctpSendOptions.Reliable, p.Now);
        p.B.Send(3, 53, new byte[5000], new SctpSendOptions { Ordered = false }, p.Now);
        p.B.Send(5, 53, new byte[3000], new SctpSendOptions { Ordered = true, MaxRetransmits = 0 }, p.Now);
        for (int i = 0; i < 20; i++)
        {
            p.A.Send(2, 53, new byte[1500], SctpSendOptions.Reliable, p.Now);
        }
        p.RunUntil(() => false, TimeSpan.FromSeconds(3));
        p.B.ResetOutgoingStreams([1, 3]);
        p.RunUntil(() => false, TimeSpan.FromSeconds(3));
        p.B.Shutdown(p.Now);
        p.RunUntil(() => p.B.State == SctpState.Closed, TimeSpan.FromSeconds(10));
        Assert.True(corpus.Count > 20);
        return corpus;
    }

    private static void Mutate(Random rnd, byte[] src, byte[] dst, out int length)
    {
        length = src.Length;
        Array.Copy(src, dst, src.Length);
        int ops = 1 + rnd.Next(4);
        for (int o = 0; o < ops; o++)
        {
            switch (rnd.Next(8))
            {
                case 0: // flip a bit in the chunk area
                    if (length > 12)
                    {
                        dst[12 + rnd.Next(length - 12)] ^= (byte)(1 << rnd.Next(8));
                    }
                    break;
                case 1: // random byte
                    if (length > 12)
                    {
                        dst[12 + rnd.Next(length - 12)] = (byte)rnd.Next(256);
                    }
                    break;
                case 2: // truncate
                    length = Math.Max(12, length - rnd.Next(Math.Max(1, length - 12)));
                    break;
                case 3: // interesting 16-bit value somewhere (lengths, counts, stream ids)
                    if (length > 14)
                    {
                        int at = 12 + rnd.Next(length - 13);
                        int pick = rnd.Next(U16Values.Length + 2);
                        ushort v = pick < U16Values.Length ? U16Values[pick] : (ushort)(length - 12 + pick - U16Values.Length);
                        BinaryPrimitives.WriteUInt16BigEndian(dst.AsSpan(at), v);
                    }
                    break;
                case 4: // extend with random bytes
                    {
                        int add = Math.Min(dst.Length - length, rnd.Next(64));
                        rnd.NextBytes(dst.AsSpan(length, add));
                        length += add;
                    }
                    break;
                case 5: // interesting 32-bit value (TSNs, cum acks, a_rwnd)
                    if (length > 16)
                    {
                        int at = 12 + rnd.Next(length - 15);
                        int pick = rnd.Next(U32Values.Length + 1);
                        uint v = pick < U32Values.Length ? U32Values[pick] : BinaryPrimitives.ReadUInt32BigEndian(dst.AsSpan(at)) + (uint)rnd.Next(-3, 70000);
                        BinaryPrimitives.WriteUInt32BigEndian(dst.AsSpan(at), v);
                    }
                    break;
                case 6: // change a chunk type
                    if (length > 12)
                    {
                        dst[12] = ChunkTypes[rnd.Next(ChunkTypes.Length)];
                    }
                    break;
                default: // duplicate a slice (bundling oddities)
                    if (length > 16)
                    {
                        int from = 12 + rnd.Next(length - 12);
                        int n = Math.Min(Math.Min(length - from, dst.Length - length), rnd.Next(32));
                        Array.Copy(dst, from, dst, length, n);
                        length += n;
                    }
                    break;
            }
        }
    }

    [Fact]
    public void Fuzz_ChunkAndParameterParsers_100kInputs_NoThrow_BoundedAllocation()
    {
        var corpus = Corpus();
        var rnd = new Random(12345);
        var buf = new byte[4096];
        var sw = Stopwatch.StartNew();
        long allocBefore = GC.GetAllocatedBytesForCurrentThread();
        int chunks = 0;
        for (int i = 0; i < 120_000; i++)
        {
            Mutate(rnd, corpus[rnd.Next(corpus.Count)], buf, out int len);
            _ = SctpCommonHeader.TryRead(buf.AsSpan(0, len), out _);
            var r = new SctpChunkReader(buf.AsSpan(12, len - 12));
            while (r.TryRead(out var type, out var flags, out var value))
            {
                chunks++;
                ParseEverything(type, flags, value);
            }
        }
        long alloc = GC.GetAllocatedBytesForCurrentThread() - allocBefore;
        output.WriteLine($"120000 inputs, {chunks} chunks parsed, {alloc} bytes allocated, {sw.Elapsed}");
        Assert.True(chunks > 60_000);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
        Assert.True(alloc < 65_536, $"parsers allocated {alloc} bytes");
    }

    private static void ParseEverything(byte type, byte flags, ReadOnlySpan<byte> value)
    {
        // Every parser sees every chunk value, whatever its type: none may throw.
        if (DataChunk.TryParse(flags, value, out var d))
        {
            _ = d.Payload.Length + d.Tsn;
        }
        if (InitChunk.TryParse(value, out var init))
        {
            WalkParameters(init.Parameters);
        }
        if (SackChunk.TryParse(value, out var sack))
        {
            for (int g = 0; g < sack.GapBlockCount; g++)
            {
                _ = sack.GapBlock(g);
            }
            for (int g = 0; g < sack.DuplicateCount; g++)
            {
                _ = sack.Duplicate(g);
            }
        }
        if (ForwardTsnChunk.TryParse(value, out var fwd))
        {
            for (int g = 0; g < fwd.StreamCount; g++)
            {
                _ = fwd.Entry(g);
            }
        }
        _ = HeartbeatChunk.TryParse(value, out _);
        _ = ShutdownChunk.TryParse(value, out _);
        _ = ErrorChunk.TryValidate(value);
        _ = ErrorChunk.FirstCause(value);
        if (ReconfigChunk.TryValidate(value))
        {
            WalkParameters(value);
        }
        _ = StateCookie.TryRead(value, Key, out _);
        _ = type;
    }

    private static void WalkParameters(ReadOnlySpan<byte> parameters)
    {
        var pr = new SctpParameterReader(parameters);
        int guard = 0;
        while (pr.TryRead(out var t, out var v) && guard++ < 10_000)
        {
            if (OutgoingSsnResetRequestParameter.TryParse(v, out var o))
            {
                for (int i = 0; i < o.StreamCount; i++)
                {
                    _ = o.Stream(i);
                }
            }
            if (IncomingSsnResetRequestParameter.TryParse(v, out var inc))
            {
                for (int i = 0; i < inc.StreamCount; i++)
                {
                    _ = inc.Stream(i);
                }
            }
            _ = ReconfigurationResponseParameter.TryParse(v, out _);
            _ = SupportedExtensionsParameter.Contains(v, SctpChunkType.ReConfig);
            _ = t;
        }
        Assert.True(guard < 10_000);
    }

    [Fact]
    public void Fuzz_LiveAssociation_100kMutatedPackets_StaysBoundedAndNeverThrows()
    {
        var corpus = Corpus();
        var rnd = new Random(777);
        var buf = new byte[4096];
        var outBuf = new byte[2048];
        var sw = Stopwatch.StartNew();
        int fed = 0, pairs = 0;
        while (fed < 100_000)
        {
            var p = new SctpTestPair(new SctpOptions { IsDtlsClient = true, RemoteMaxMessageSize = 262_144 }, new SctpOptions { RemoteMaxMessageSize = 262_144 });
            p.ConnectBoth();
            pairs++;
            var a = p.A;
            uint tag = a.LocalTag;
            var now = p.Now;
            for (int k = 0; k < 5_000 && a.State != SctpState.Closed; k++, fed++)
            {
                Mutate(rnd, corpus[rnd.Next(corpus.Count)], buf, out int len);
                int mode = rnd.Next(10);
                if (mode < 8)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(4), tag); // reach the chunk handlers
                }
                if (mode < 9)
                {
                    SctpCommonHeader.Seal(buf.AsSpan(0, len));
                }
                a.Receive(buf.AsSpan(0, len), now);
                for (int g = 0; g < 1000 && a.TryPollTransmit(outBuf, now, out var nTx); g++)
                {
                    int n = nTx.Length;
                    Assert.True(n <= a.Options.Mtu);
                }
                while (a.TryPollEvent(out _))
                {
                }
                if (k % 100 == 0)
                {
                    now += TimeSpan.FromMilliseconds(rnd.Next(1, 3000));
                    a.HandleDeadline(now);
                    if (k % 500 == 0 && a.State == SctpState.Established)
                    {
                        a.Send((ushort)rnd.Next(a.OutboundStreamCount), 53, new byte[rnd.Next(1, 5000)], SctpSendOptions.Reliable, now);
                    }
                }
                Assert.True(a.ReceiveBufferUsed <= 2L * a.Options.ReceiveWindow, $"receive buffer {a.ReceiveBufferUsed}");
                Assert.True(a.PendingEventCount < 10_000);
            }
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), $"took {sw.Elapsed}");
        output.WriteLine($"{fed} packets into {pairs} associations, {sw.Elapsed}");
        Assert.True(pairs >= 20);
    }
}
