using OspBridge.WebRtc.Media;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>AudioJitterBuffer: playout at the target delay, reordering absorbed, loss reported once, late frames dropped, bounds.</summary>
public class AudioJitterBufferTests
{
    private static byte[] Frame(int n) => [(byte)n, 1, 2, 3];

    private static TimeSpan Ms(int n) => TimeSpan.FromMilliseconds(n);

    private static List<(AudioPlayout Kind, uint Ts, byte First, TimeSpan At)> Run(AudioJitterBuffer b, TimeSpan from, TimeSpan to)
    {
        var list = new List<(AudioPlayout, uint, byte, TimeSpan)>();
        var buf = new byte[1500];
        for (var t = from; t <= to; t += TimeSpan.FromMilliseconds(1))
        {
            AudioPlayout k;
            while ((k = b.TryPop(t, buf, out int n, out uint ts)) != AudioPlayout.None)
                list.Add((k, ts, n > 0 ? buf[0] : (byte)0, t));
        }
        return list;
    }

    [Fact]
    public void Reordered_frames_play_in_order_at_the_target_delay_and_a_missing_one_is_lost_once()
    {
        var b = new AudioJitterBuffer(48_000, TimeSpan.FromMilliseconds(60));
        // 20 ms Opus frames (960 units): 0 at 0 ms, 2 before 1 (reordered), 3 never arrives, 4 on time
        Assert.True(b.Push(Frame(0), 1000, Ms(0)));
        Assert.True(b.Push(Frame(2), 1000 + 2 * 960, Ms(41)));
        Assert.True(b.Push(Frame(1), 1000 + 960, Ms(45)));
        Assert.True(b.Push(Frame(4), 1000 + 4 * 960, Ms(80)));
        var played = Run(b, Ms(0), Ms(200));
        (AudioPlayout, uint, byte, TimeSpan)[] expected =
            [(AudioPlayout.Frame, 1000u, (byte)0, Ms(60)), (AudioPlayout.Frame, 1960u, (byte)1, Ms(80)), (AudioPlayout.Frame, 2920u, (byte)2, Ms(100)),
             (AudioPlayout.Lost, 3880u, (byte)0, Ms(120)), (AudioPlayout.Frame, 4840u, (byte)4, Ms(140))];
        Assert.Equal(expected, played.Take(5));
        // frame 3 arriving now is late
        Assert.False(b.Push(Frame(3), 1000 + 3 * 960, Ms(200)));
        Assert.Equal(1, b.FramesLate);
        Assert.Equal(4, b.FramesPlayed);
    }

    [Fact]
    public void Silence_makes_it_idle_and_it_re_anchors_and_bounds_hold()
    {
        var b = new AudioJitterBuffer(8000, TimeSpan.FromMilliseconds(40), maxFrames: 4, maxFrameSize: 160, maxConsecutiveLost: 3);
        Assert.True(b.Push(new byte[160], 0, Ms(0)));
        Assert.False(b.Push(new byte[161], 160, Ms(0))); // too large
        var out1 = Run(b, Ms(0), Ms(200));
        Assert.Equal(1, out1.Count(x => x.Kind == AudioPlayout.Frame));
        Assert.Equal(3, out1.Count(x => x.Kind == AudioPlayout.Lost)); // then idle
        Assert.Null(b.NextPlayout);
        // re-anchored at the next frame's arrival
        Assert.True(b.Push(new byte[160], 80_000, Ms(1000)));
        Assert.Equal(Ms(1040), b.NextPlayout);
        for (uint i = 1; i <= 3; i++)
            Assert.True(b.Push(new byte[160], 80_000 + 160 * i, Ms(1000)));
        Assert.False(b.Push(new byte[160], 80_000 + 160 * 4, Ms(1000))); // full
        Assert.Equal(2, b.FramesRefused);
        Assert.Equal(4, b.Count);
    }

    [Fact]
    public void Random_pushes_never_throw_and_memory_stays_bounded()
    {
        var rnd = new Random(3551);
        var b = new AudioJitterBuffer(48_000, TimeSpan.FromMilliseconds(50), maxFrames: 32);
        var buf = new byte[1500];
        var src = new byte[2000];
        var t = TimeSpan.Zero;
        for (int i = 0; i < 50_000; i++)
        {
            t += TimeSpan.FromMilliseconds(rnd.Next(0, 3));
            b.Push(src.AsSpan(0, rnd.Next(0, 2000)), (uint)rnd.Next(), t);
            int pops = 0;
            while (b.TryPop(t, buf, out _, out _) != AudioPlayout.None && pops++ < 100)
            {
            }
            Assert.InRange(b.Count, 0, 32);
        }
        Assert.True(b.FramesRefused > 0 && b.FramesLate > 0);
    }
}
