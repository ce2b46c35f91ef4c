using System.Buffers.Binary;
using System.Diagnostics;
using OspBridge.Testing;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Tests.Rtp;

/// <summary>Mutation fuzzing (fixed seeds) of the RTP header/extension and RTCP parsers: no throw, no allocation, bounded loops.</summary>
public class RtpFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly ushort[] U16 = [0, 1, 2, 3, 4, 0x7fff, 0x8000, 0xBEDE, 0x1000, 0xffff];

    internal static List<byte[]> RtpCorpus()
    {
        var corpus = new List<byte[]>();
        var buf = new byte[1500];
        var ext = new byte[64];
        for (int i = 0; i < 8; i++)
        {
            var w = new RtpExtensionWriter(ext, twoByte: i % 2 == 1);
            w.TryAdd(1, [1, 2, 3]);
            w.TryAdd(2, new byte[i + 1]);
            var data = i % 3 == 0 ? default : w.Finish();
            var h = new RtpHeader { PayloadType = (byte)(96 + i), SequenceNumber = (ushort)(i * 9000), Marker = i % 2 == 0, Timestamp = (uint)i, Ssrc = 7, ExtensionProfile = w.Profile };
            uint[] csrcs = i == 4 ? [1, 2, 3] : [];
            h.TryWrite(buf, csrcs, data, out int n);
            corpus.Add(buf.AsSpan(0, n + 10 + i * 50).ToArray());
        }
        return corpus;
    }

    internal static List<byte[]> RtcpCorpus()
    {
        var corpus = new List<byte[]>();
        var buf = new byte[1500];
        var block = new ReceptionReport(2, 1, 2, 3, 4, 5, 6);
        SenderReport.TryWrite(buf, 1, 2, 3, 4, 5, [block, block], out int n);
        int m = n;
        SourceDescription.TryWriteCName(buf.AsSpan(m), 1, "hello-cname"u8, out n);
        m += n;
        corpus.Add(buf[..m]);
        ReceiverReport.TryWrite(buf, 1, [block], out n);
        m = n;
        GenericNack.TryWrite(buf.AsSpan(m), 1, 2, [1, 2, 5, 30, 31, 60], out n);
        m += n;
        PictureLossIndication.TryWrite(buf.AsSpan(m), 1, 2, out n);
        m += n;
        FullIntraRequest.TryWrite(buf.AsSpan(m), 1, 2, 3, out n);
        m += n;
        ReceiverEstimatedMaxBitrate.TryWrite(buf.AsSpan(m), 1, 5_000_000, [2u, 3u], out n);
        m += n;
        Goodbye.TryWrite(buf.AsSpan(m), [1u, 2u], "bye"u8, out n);
        m += n;
        corpus.Add(buf[..m]);
        // XR: RRTR, DLRR with three sub-blocks
        ReceiverReport.TryWrite(buf, 1, [block], out n);
        m = n;
        ReceiverReferenceTime.TryWrite(buf.AsSpan(m), 1, 0x0102030405060708, out n);
        m += n;
        DelaySinceLastReceiverReport.TryWrite(buf.AsSpan(m), 1, [new DlrrSubBlock(2, 3, 4), new DlrrSubBlock(5, 6, 7), new DlrrSubBlock(8, 9, 10)], out n);
        m += n;
        corpus.Add(buf[..m]);
        return corpus;
    }

    internal static void Mutate(Random rnd, byte[] src, byte[] dst, out int length)
    {
        length = src.Length;
        Array.Copy(src, dst, src.Length);
        int ops = 1 + rnd.Next(4);
        for (int o = 0; o < ops; o++)
        {
            switch (rnd.Next(7))
            {
                case 0:
                    if (length > 0)
                        dst[rnd.Next(length)] ^= (byte)(1 << rnd.Next(8));
                    break;
                case 1:
                    if (length > 0)
                        dst[rnd.Next(length)] = (byte)rnd.Next(256);
                    break;
                case 2:
                    length = rnd.Next(length + 1);
                    break;
                case 3:
                    if (length > 2)
                        BinaryPrimitives.WriteUInt16BigEndian(dst.AsSpan(rnd.Next(length - 1)), U16[rnd.Next(U16.Length)]);
                    break;
                case 4:
                    {
                        int add = Math.Min(dst.Length - length, rnd.Next(64));
                        rnd.NextBytes(dst.AsSpan(length, add));
                        length += add;
                    }
                    break;
                case 5: // the first octet decides version, padding, counts
                    if (length > 0)
                        dst[0] = (byte)(0x80 | rnd.Next(64));
                    break;
                default:
                    if (length > 4)
                    {
                        int from = rnd.Next(length);
                        int n = Math.Min(Math.Min(length - from, dst.Length - length), rnd.Next(32));
                        Array.Copy(dst, from, dst, length, n);
                        length += n;
                    }
                    break;
            }
        }
    }

    [Fact]
    public void Fuzz_rtp_and_rtcp_parsers_200k_inputs_no_throw_no_allocation()
    {
        var rtp = RtpCorpus();
        var rtcp = RtcpCorpus();
        var rnd = new Random(4242);
        var buf = new byte[4096];
        var sw = Stopwatch.StartNew();
        int parsed = 0;
        // Windows of 200 000 inputs (the next window mutates afresh), the least counted: a one-off runtime allocation
        // lands in one window, a parser's allocation in all. One window normally suffices.
        long alloc = Allocations.LeastOf(3, () =>
        {
            parsed = 0;
            Span<ushort> lost = stackalloc ushort[1024];
            for (int i = 0; i < 200_000; i++)
            {
                bool isRtp = (i & 1) == 0;
                var src = isRtp ? rtp[rnd.Next(rtp.Count)] : rtcp[rnd.Next(rtcp.Count)];
                Mutate(rnd, src, buf, out int len);
                var packet = buf.AsSpan(0, len);
                if (RtpHeader.TryRead(packet, out var h))
                {
                    parsed++;
                    Assert.True(h.HeaderLength + h.PaddingLength <= len);
                    _ = h.Payload(packet).Length;
                    var er = new RtpExtensionReader(h.ExtensionProfile, h.ExtensionData(packet));
                    int guard = 0;
                    while (er.TryRead(out _, out var v) && guard++ < 10_000)
                        _ = v.Length;
                    Assert.True(guard < 10_000);
                }
                var r = new RtcpCompoundReader(packet);
                int count = 0;
                while (r.TryRead(out _, out var p))
                {
                    count++;
                    parsed++;
                    ParseEverything(p, lost);
                }
                Assert.True(count <= RtcpCompoundReader.MaxPackets);
            }
        }, enough: 16_383);
        output.WriteLine($"200000 inputs, {parsed} packets parsed, {alloc} bytes allocated, {sw.Elapsed}");
        Assert.True(parsed > 100_000, $"only {parsed} parsed");
        Assert.True(alloc < 16_384, $"parsers allocated {alloc} bytes");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
    }

    private static void ParseEverything(ReadOnlySpan<byte> p, Span<ushort> lost)
    {
        if (SenderReport.TryRead(p, out var sr))
        {
            for (int i = 0; i < sr.ReportCount; i++)
                _ = sr.Report(i);
        }
        if (ReceiverReport.TryRead(p, out var rr))
        {
            for (int i = 0; i < rr.ReportCount; i++)
                _ = rr.Report(i);
        }
        if (SourceDescription.TryCreate(p, out var sdes))
        {
            int guard = 0;
            while (sdes.TryRead(out _, out _, out _) && guard++ < 10_000)
            {
            }
            Assert.True(guard < 10_000);
        }
        if (Goodbye.TryRead(p, out var bye))
        {
            for (int i = 0; i < bye.SourceCount; i++)
                _ = bye.Source(i);
        }
        if (GenericNack.TryRead(p, out var nack))
            Assert.True(nack.CopyLostSequenceNumbers(lost) <= lost.Length);
        _ = PictureLossIndication.TryRead(p, out _);
        if (FullIntraRequest.TryRead(p, out var fir))
        {
            for (int i = 0; i < fir.EntryCount; i++)
                _ = fir.Entry(i);
        }
        if (ReceiverEstimatedMaxBitrate.TryRead(p, out var remb))
        {
            for (int i = 0; i < remb.SsrcCount; i++)
                _ = remb.Ssrc(i);
        }
        if (ExtendedReport.TryRead(p, out var xr))
        {
            _ = xr.Ssrc;
            var blocks = xr.Blocks;
            int guard = 0;
            while (blocks.TryRead(out byte type, out var block) && guard++ < 10_000)
            {
                Assert.True(block.Length >= ExtendedReport.BlockHeaderSize && block.Length <= p.Length);
                if (type == ReceiverReferenceTime.BlockType)
                    _ = ReceiverReferenceTime.TryRead(block, out _);
                if (DelaySinceLastReceiverReport.TryRead(block, out var dlrr))
                {
                    Assert.True(dlrr.Count <= DelaySinceLastReceiverReport.MaxSubBlocks);
                    for (int i = 0; i < dlrr.Count; i++)
                        _ = dlrr.SubBlock(i);
                }
            }
            Assert.True(guard < 10_000);
        }
    }
}
