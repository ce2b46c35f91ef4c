using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>
/// RtpReceiveStream.NextDeadline's contract (session 12): after HandleDeadline(now) and draining TryPollTransmit and
/// TryPollFrame at now, the next deadline is later than now or null — never a past deadline that handling now did not
/// consume (RtspUdpReceiver used to retry such a deadline every 5 ms; a driver that took it as "nothing to do" would stall).
/// </summary>
public class RtpReceiveDeadlineTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const uint Ssrc = 0x5151;

    private static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static RtpReceiveStream Receiver(ulong seed, MediaCodec codec, bool nack, int reorder = 16, TimeSpan? reportInterval = null) => new(new RtpReceiveStreamOptions
    {
        ReportInterval = reportInterval ?? TimeSpan.FromSeconds(1),
        Random = new SeededRandomNumberGenerator(seed),
        Codec = codec,
        RemoteSsrc = Ssrc,
        Nack = nack,
        ReorderBufferPackets = reorder,
    });

    private static byte[] Pcmu(ushort seq, uint ts)
    {
        var b = new byte[12 + 160];
        new RtpHeader { PayloadType = 0, SequenceNumber = seq, Timestamp = ts, Ssrc = Ssrc }.TryWrite(b, out _);
        b.AsSpan(12).Fill(0x55);
        return b;
    }

    /// <summary>One H.264 single-NAL-unit packet that is a whole frame: an IDR slice (keyframe) or a non-IDR slice.</summary>
    private static byte[] H264(ushort seq, uint ts, bool key)
    {
        var b = new byte[12 + 40];
        new RtpHeader { PayloadType = 102, SequenceNumber = seq, Timestamp = ts, Ssrc = Ssrc, Marker = true }.TryWrite(b, out _);
        b.AsSpan(12).Fill(0x33);
        b[12] = (byte)(key ? 0x65 : 0x41);
        return b;
    }

    /// <summary>Drains transmits and frames at <paramref name="now"/> until neither gives more; the counts.</summary>
    private static (int Transmits, int Frames) Drain(RtpReceiveStream r, TimeSpan now)
    {
        var buf = new byte[1500];
        int transmits = 0, frames = 0;
        while (r.TryPollTransmit(buf, now, out _))
            transmits++;
        while (r.TryPollFrame(now, out _))
            frames++;
        while (r.TryPollEvent(out _))
        {
        }
        return (transmits, frames);
    }

    /// <summary>
    /// What a driver loop does at <paramref name="now"/> (CoreLoop's service passes): while the stream's deadline is due,
    /// HandleDeadline, then drain; a frame poll may make a PLI owed, which the next pass sends. Returns the passes it took;
    /// fails when the stream does not settle (a due deadline that handling does not consume: a driver would spin on it).
    /// </summary>
    private static int Settle(RtpReceiveStream r, TimeSpan now)
    {
        for (int pass = 1; pass <= 8; pass++)
        {
            if (r.NextDeadline <= now)
                r.HandleDeadline(now);
            Drain(r, now);
            if (r.NextDeadline is not { } next || next > now)
                return pass;
        }
        Assert.Fail($"NextDeadline {r.NextDeadline} stays at or before now {now} although every pass handled it and drained the stream");
        return 0;
    }

    private static void HandleAt(RtpReceiveStream r, TimeSpan now)
    {
        if (r.NextDeadline <= now)
            r.HandleDeadline(now);
        Drain(r, now);
    }

    [Fact]
    public void Startup_hold_is_not_reported_once_passed_while_a_head_skipped_to_by_a_jump_waits()
    {
        // Reorder ring of 16: packet 1040 after 1000 skips the window ahead to 1025, which never came. At the end of the
        // start-up hold (50 ms) the head is missing and waits its own 50 ms; the old NextDeadline kept reporting the hold's
        // end (50 ms, now past) until something was delivered at 100 ms.
        var r = Receiver(1, MediaCodec.Pcmu, nack: false);
        Assert.True(r.ReceiveRtp(Pcmu(1000, 0), Ms(0)));
        Drain(r, Ms(0));
        Assert.True(r.ReceiveRtp(Pcmu(1040, 40 * 160), Ms(1)));
        Drain(r, Ms(1));
        Assert.Equal(Ms(50), r.NextDeadline); // the start-up hold (the report is due later)

        HandleAt(r, Ms(50));
        Assert.Equal(Ms(100), r.NextDeadline); // the missing head's own wait — was 50 ms (stale)

        r.HandleDeadline(Ms(100));
        var (_, frames) = Drain(r, Ms(100));
        Assert.Equal(1, frames); // 1025–1039 skipped, 1040 delivered
        Assert.True(r.NextDeadline is null || r.NextDeadline > Ms(100));
    }

    [Fact]
    public void A_pli_that_is_owed_is_named_as_due()
    {
        // Video waits for a keyframe: a delta frame is dropped and a PLI is owed at once. The old NextDeadline named only
        // the rate-limited repeat (after a first PLI), so the first was left to whoever polled transmits next.
        var r = Receiver(2, MediaCodec.H264, nack: false, reportInterval: TimeSpan.FromSeconds(10)); // reports ≥ 5 s: out of the way
        Assert.True(r.ReceiveRtp(H264(500, 0, key: false), Ms(0)));
        Assert.False(r.TryPollFrame(Ms(0), out _)); // start-up hold
        Assert.False(r.TryPollFrame(Ms(50), out _)); // after it: the delta frame is dropped, a PLI is owed
        Assert.True(r.NextDeadline <= Ms(50), $"NextDeadline {r.NextDeadline} does not name the PLI owed at 50 ms");

        var buf = new byte[1500];
        Assert.True(r.TryPollTransmit(buf, Ms(50), out _)); // RR + PLI
        Assert.Equal(1, r.Statistics.PlisSent);
        Assert.Equal(Ms(550), r.NextDeadline); // the repeat, PliMinInterval later
        HandleAt(r, Ms(550));
        Assert.Equal(2, r.Statistics.PlisSent);

        Assert.True(r.ReceiveRtp(H264(501, 3000, key: true), Ms(560)));
        Assert.True(r.TryPollFrame(Ms(560), out var frame));
        Assert.True(frame.IsKeyframe);
        Drain(r, Ms(560));
        Assert.True(r.NextDeadline >= TimeSpan.FromSeconds(5), $"NextDeadline {r.NextDeadline}"); // no PLI owed any more: only the report
    }

    [Theory]
    [InlineData(MediaCodec.Pcmu, false)]
    [InlineData(MediaCodec.Pcmu, true)]
    [InlineData(MediaCodec.H264, false)]
    [InlineData(MediaCodec.H264, true)]
    public void After_handling_now_the_next_deadline_is_later_or_none_for_random_arrivals(MediaCodec codec, bool nack)
    {
        // Fixed seeds: random loss, reordering, duplicates, sequence jumps past the ring, silences and keyframe requests;
        // the receiver is driven like a loop (input and deadlines in time order, everything due drained at each instant).
        int checks = 0, maxPasses = 0;
        for (int run = 0; run < 40; run++)
        {
            var rnd = new Random(1000 + run);
            var r = Receiver((ulong)(run + 1), codec, nack, reorder: rnd.Next(2) == 0 ? 16 : 64);
            var arrivals = new List<(TimeSpan At, byte[] Packet)>();
            ushort seq = (ushort)rnd.Next(65536);
            uint ts = (uint)rnd.Next();
            var t = TimeSpan.Zero;
            for (int i = 0; i < 400; i++)
            {
                t += TimeSpan.FromMilliseconds(rnd.Next(0, 30));
                if (rnd.Next(60) == 0)
                    t += TimeSpan.FromMilliseconds(rnd.Next(100, 1500)); // a silence
                if (rnd.Next(80) == 0)
                    seq += (ushort)rnd.Next(17, 300); // a jump, often past the ring
                seq++;
                ts += 3000;
                bool key = rnd.Next(15) == 0;
                var p = codec == MediaCodec.Pcmu ? Pcmu(seq, ts) : H264(seq, ts, key);
                if (rnd.Next(10) == 0)
                    continue; // lost
                var at = t + TimeSpan.FromMilliseconds(rnd.Next(0, 3) == 0 ? rnd.Next(0, 120) : 0); // reordered
                arrivals.Add((at, p));
                if (rnd.Next(30) == 0)
                    arrivals.Add((at + TimeSpan.FromMilliseconds(rnd.Next(0, 40)), p)); // duplicate
            }
            arrivals.Sort((a, b) => a.At.CompareTo(b.At));

            var now = TimeSpan.Zero;
            int next = 0;
            for (int step = 0; step < 100_000; step++)
            {
                var due = r.NextDeadline;
                bool input = next < arrivals.Count && (due is null || arrivals[next].At <= due);
                if (!input && due is null)
                    break;
                var at = input ? arrivals[next].At : due!.Value;
                if (at > now)
                    now = at;
                if (input)
                {
                    r.ReceiveRtp(arrivals[next++].Packet, now);
                    if (rnd.Next(50) == 0)
                        r.RequestKeyframe(discardUntilKeyframe: rnd.Next(2) == 0);
                }
                else
                {
                    Assert.True(due <= now); // the deadline's instant: Settle handles it
                }
                int passes = Settle(r, now); // fails (with the deadline) when the stream names a due deadline it never consumes
                Assert.True(r.NextDeadline is null || r.NextDeadline > now, $"run {run}, step {step}");
                maxPasses = Math.Max(maxPasses, passes);
                checks++;
                if (next == arrivals.Count && now > arrivals[^1].At + TimeSpan.FromSeconds(3))
                    break; // only periodic reports are left
            }
        }
        output.WriteLine($"{checks} instants checked, at most {maxPasses} passes per instant");
        Assert.InRange(maxPasses, 1, 2); // a frame poll that makes a PLI owed needs one more pass, nothing needs more
        Assert.True(checks > 40 * 300);
    }
}
