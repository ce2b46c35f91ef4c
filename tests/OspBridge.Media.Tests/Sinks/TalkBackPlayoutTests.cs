using OspBridge.Media.Formats;
using OspBridge.Media.Sinks;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Sinks;

/// <summary><see cref="TalkBackPlayout"/> in virtual time: order, concealment of gaps inside speech, no tail, counting.</summary>
public class TalkBackPlayoutTests
{
    private sealed class RecordingSink : IAudioSinkSession
    {
        public List<byte[]> Packets { get; } = [];

        public long PacketsWritten => Packets.Count;

        public long PacketsDropped => 0;

        public long SamplesWritten => Packets.Sum(p => (long)OpusPacket.GetSampleCount(p));

        public ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> opusPacket, CancellationToken cancellationToken)
        {
            Packets.Add(opusPacket.ToArray());
            return ValueTask.FromResult(true);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    // CELT fullband 20 ms, code 0 (TOC 0xF8) with a payload octet naming the frame
    private static EncodedFrame Frame(int i) => new(MediaCodec.Opus, new byte[] { 0xF8, (byte)i, 0x55 }, TimeSpan.FromMilliseconds(20 * i), true);

    private static async Task RunAsync(TalkBackPlayout playout, IEnumerable<(int Frame, int ArrivalMs)> arrivals, int untilMs)
    {
        var byTime = arrivals.OrderBy(a => a.ArrivalMs).ToList();
        int next = 0;
        for (int ms = 0; ms <= untilMs; ms++)
        {
            var now = TimeSpan.FromMilliseconds(ms);
            while (next < byTime.Count && byTime[next].ArrivalMs == ms)
                playout.Push(Frame(byTime[next++].Frame), now);
            await playout.DrainAsync(now, CancellationToken.None);
        }
        await playout.FlushAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Reordered_frames_come_out_in_timestamp_order_after_the_target_delay()
    {
        var sink = new RecordingSink();
        var playout = new TalkBackPlayout(sink);
        // 50 frames; every odd frame arrives 25 ms late (after the following even one), plus 0–4 ms of jitter
        var arrivals = Enumerable.Range(0, 50).Select(i => (Frame: i, ArrivalMs: (20 * i) + (i % 2 == 1 ? 25 : 0) + (i * 7 % 5))).ToList();
        Assert.Contains(arrivals, a => a.Frame % 2 == 1 && arrivals.Any(b => b.Frame == a.Frame + 1 && b.ArrivalMs < a.ArrivalMs));
        await RunAsync(playout, arrivals, 1200);
        Assert.Equal(50, playout.PacketsReceived);
        Assert.Equal(50 * 960, playout.SamplesReceived);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (byte)i), sink.Packets.Select(p => p[1]));
        Assert.Equal(0, playout.FramesLate);
    }

    [Fact]
    public async Task A_lost_frame_inside_speech_is_concealed_with_a_toc_only_packet_and_no_tail_is_added()
    {
        var sink = new RecordingSink();
        var playout = new TalkBackPlayout(sink);
        var arrivals = Enumerable.Range(0, 30).Where(i => i is not (10 or 11)).Select(i => (Frame: i, ArrivalMs: 20 * i)).ToList();
        await RunAsync(playout, arrivals, 3000); // 2.4 s of silence after the last frame
        Assert.Equal(28, playout.PacketsReceived);
        Assert.Equal(30, sink.Packets.Count); // 28 frames + 2 concealed, nothing after the end
        Assert.Equal(new byte[] { 0xF8 }, sink.Packets[10]);
        Assert.Equal(new byte[] { 0xF8 }, sink.Packets[11]);
        Assert.Equal((byte)12, sink.Packets[12][1]);
        Assert.Equal((byte)29, sink.Packets[^1][1]);
        Assert.Equal(30 * 960, sink.SamplesWritten); // the Ogg timeline keeps its length
    }

    [Fact]
    public async Task A_long_pause_is_not_filled()
    {
        var sink = new RecordingSink();
        var playout = new TalkBackPlayout(sink);
        var arrivals = Enumerable.Range(0, 10).Select(i => (Frame: i, ArrivalMs: 20 * i))
            .Concat(Enumerable.Range(100, 10).Select(i => (Frame: i, ArrivalMs: 20 * i))).ToList(); // 1.8 s pause
        await RunAsync(playout, arrivals, 3000);
        Assert.Equal(20, playout.PacketsReceived);
        Assert.Equal(20, sink.Packets.Count(p => p.Length > 1));
        Assert.True(sink.Packets.Count(p => p.Length == 1) < 25, "a pause longer than the idle limit is not concealed");
    }

    [Fact]
    public async Task Without_a_sink_it_counts_and_ignores_other_codecs()
    {
        var playout = new TalkBackPlayout(null);
        for (int i = 0; i < 5; i++)
            playout.Push(Frame(i), TimeSpan.FromMilliseconds(20 * i));
        playout.Push(new EncodedFrame(MediaCodec.Pcmu, new byte[160], TimeSpan.Zero, true), TimeSpan.Zero);
        playout.Push(new EncodedFrame(MediaCodec.Opus, Array.Empty<byte>(), TimeSpan.Zero, true), TimeSpan.Zero);
        await playout.DrainAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(5, playout.PacketsReceived);
        Assert.Equal(5 * 960, playout.SamplesReceived);
        Assert.Null(playout.NextDeadline);
    }
}
