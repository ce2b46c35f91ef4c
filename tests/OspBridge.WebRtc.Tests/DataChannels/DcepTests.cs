using System.Diagnostics;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.DataChannels;

public class DcepTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    [Fact]
    public void Open_GoldenBytes_AndRoundTrip()
    {
        var open = new DcepOpenMessage(DataChannelType.Reliable, 256, 0, "chat", "");
        Assert.Equal(Hex("03 00 01 00 00 00 00 00 00 04 00 00 63 68 61 74"), open.ToArray());
        Assert.True(DcepOpenMessage.TryParse(open.ToArray(), out var back));
        Assert.Equal(open, back);
    }

    [Theory]
    [InlineData(DataChannelType.Reliable, 0u)]
    [InlineData(DataChannelType.ReliableUnordered, 0u)]
    [InlineData(DataChannelType.PartialReliableRexmit, 5u)]
    [InlineData(DataChannelType.PartialReliableRexmitUnordered, 0u)]
    [InlineData(DataChannelType.PartialReliableTimed, 1500u)]
    [InlineData(DataChannelType.PartialReliableTimedUnordered, 10u)]
    public void Open_AllChannelTypes_RoundTripAndMapToOptions(DataChannelType type, uint parameter)
    {
        var open = new DcepOpenMessage(type, 512, parameter, "läbel", "proto/1");
        var bytes = open.ToArray();
        Assert.Equal((byte)type, bytes[1]);
        Assert.True(DcepOpenMessage.TryParse(bytes, out var back));
        Assert.Equal(open, back);
        var o = DataChannelOptions.FromOpen(back, 3);
        Assert.Equal(type, o.ChannelType);
        Assert.Equal(parameter, o.ReliabilityParameter);
        Assert.Equal("proto/1", o.Protocol);
        Assert.Equal((ushort)3, o.Id);
    }

    [Fact]
    public void Open_RejectsBadInput()
    {
        var good = new DcepOpenMessage(DataChannelType.Reliable, 0, 0, "ab", "c").ToArray();
        Assert.False(DcepOpenMessage.TryParse(good.AsSpan(0, good.Length - 1), out _));           // short
        Assert.False(DcepOpenMessage.TryParse([.. good, 0], out _));           // trailing byte
        var badType = (byte[])good.Clone();
        badType[1] = 0x03;
        Assert.False(DcepOpenMessage.TryParse(badType, out _));
        var badUtf8 = (byte[])good.Clone();
        badUtf8[12] = 0xff;
        Assert.False(DcepOpenMessage.TryParse(badUtf8, out _));
        Assert.False(DcepOpenMessage.TryParse([0x02], out _));
        Assert.True(DcepAckMessage.IsAck([0x02]));
        Assert.False(DcepAckMessage.IsAck([0x02, 0]));
        Assert.False(DcepAckMessage.IsAck([]));
    }

    [Fact]
    public void Fuzz_DcepParser_150kMutatedInputs_NoThrow()
    {
        var rnd = new Random(99);
        var seeds = new[]
        {
            new DcepOpenMessage(DataChannelType.Reliable, 256, 0, "chat", "").ToArray(),
            new DcepOpenMessage(DataChannelType.PartialReliableTimedUnordered, 1, 300, "ünïcode-label", "x-proto").ToArray(),
            new byte[] { 0x02 },
        };
        var buf = new byte[512];
        var sw = Stopwatch.StartNew();
        int parsed = 0;
        for (int i = 0; i < 150_000; i++)
        {
            var s = seeds[rnd.Next(seeds.Length)];
            int len = s.Length;
            s.CopyTo(buf, 0);
            for (int k = rnd.Next(1, 4); k > 0; k--)
            {
                switch (rnd.Next(4))
                {
                    case 0: buf[rnd.Next(len)] ^= (byte)(1 << rnd.Next(8)); break;
                    case 1: buf[rnd.Next(len)] = (byte)rnd.Next(256); break;
                    case 2: len = rnd.Next(len + 1); break;
                    default:
                        int add = rnd.Next(16);
                        rnd.NextBytes(buf.AsSpan(len, add));
                        len += add;
                        break;
                }
            }
            if (DcepOpenMessage.TryParse(buf.AsSpan(0, len), out var m))
            {
                parsed++;
                Assert.Equal(len, m.Length);
            }
            _ = DcepAckMessage.IsAck(buf.AsSpan(0, len));
        }
        Assert.True(parsed > 1000);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Fuzz_LiveEndpoint_RandomDcepAndUserPayloads_NeverThrows()
    {
        var rnd = new Random(7);
        var p = new DataChannelTestPair();
        p.Connect();
        var raw = p.A.Association;
        uint[] ppids = [50, 50, 50, 51, 52, 53, 54, 56, 57, 0, 99];
        for (int i = 0; i < 3000; i++)
        {
            ushort sid = (ushort)rnd.Next(40);
            uint ppid = ppids[rnd.Next(ppids.Length)];
            byte[] payload;
            if (ppid == 50 && rnd.Next(2) == 0)
            {
                payload = new DcepOpenMessage((DataChannelType)(rnd.Next(2) * 0x80 + rnd.Next(3)), 0, (uint)rnd.Next(10), "l" + i, "").ToArray();
                payload[rnd.Next(payload.Length)] ^= (byte)rnd.Next(256);
            }
            else
            {
                payload = new byte[rnd.Next(1, 300)];
                rnd.NextBytes(payload);
                if (ppid == 50)
                {
                    payload[0] = (byte)(rnd.Next(2) == 0 ? 3 : 2);
                }
            }
            raw.Send(sid, ppid, payload, new SctpSendOptions { Ordered = rnd.Next(2) == 0 }, p.Now);
            if (i % 50 == 0)
            {
                Assert.True(p.RunUntil(() => raw.OutstandingChunks == 0 && raw.BufferedAmount == 0, TimeSpan.FromSeconds(30)));
            }
        }
        Assert.True(p.RunUntil(() => raw.OutstandingChunks == 0 && raw.BufferedAmount == 0, TimeSpan.FromSeconds(30)));
        Assert.True(p.B.IsConnected);
        // B opened channels only for valid OPENs on the peer's (even) ids.
        Assert.All(p.EventsB.Where(e => e.Kind == DataChannelEventKind.ChannelOpened), e => Assert.True(e.ChannelId % 2 == 0 && e.IsRemote));
        Assert.Contains(p.EventsB, e => e.Kind == DataChannelEventKind.MessageReceived);
    }
}
