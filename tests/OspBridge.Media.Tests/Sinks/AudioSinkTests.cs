using OspBridge.Media.Formats;
using OspBridge.Media.Sinks;
using OspBridge.Media.Sources;
using OspBridge.Media.Tests.Sources;

namespace OspBridge.Media.Tests.Sinks;

/// <summary>The talk-back sinks: an Ogg file per session, one session at a time, and <c>exec:</c> children fed Ogg Opus on stdin, restarted with back-off.</summary>
public sealed class AudioSinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ospb-sink-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static readonly byte[] Packet = [0xF8, 1, 2, 3, 4, 5];

    private static List<byte[]> ReadOgg(string path, out int channels)
    {
        var reader = new OggOpusReader();
        var data = File.ReadAllBytes(path);
        var packets = new List<byte[]>();
        int at = 0;
        while (at < data.Length)
        {
            int n = reader.Write(data.AsSpan(at));
            at += n;
            int before = packets.Count;
            while (reader.TryRead(out var p, out _)) packets.Add(p.ToArray());
            Assert.True(n > 0 || packets.Count > before, "reader stalled");
        }
        channels = reader.Channels;
        return packets;
    }

    [Fact]
    public async Task File_sink_writes_one_ogg_stream_per_session_and_is_held_by_one_session()
    {
        string path = Path.Combine(_dir, "a.ogg");
        await using var sink = AudioSink.Create(path);
        Assert.Equal(path, sink.Description);
        await using (var s = await sink.TryOpenAsync(1, CancellationToken.None))
        {
            Assert.NotNull(s);
            Assert.Null(await sink.TryOpenAsync(1, CancellationToken.None));
            for (int i = 0; i < 10; i++) Assert.True(await s!.WriteAsync(Packet, CancellationToken.None));
            Assert.False(await s!.WriteAsync(Array.Empty<byte>(), CancellationToken.None));
            Assert.Equal(10, s.PacketsWritten);
            Assert.Equal(1, s.PacketsDropped);
            Assert.Equal(9600, s.SamplesWritten);
        }
        var packets = ReadOgg(path, out int channels);
        Assert.Equal(1, channels);
        Assert.Equal(10, packets.Count);
        Assert.All(packets, p => Assert.Equal(Packet, p));
        // the next session rewrites the file
        await using (var s = await sink.TryOpenAsync(2, CancellationToken.None))
            for (int i = 0; i < 3; i++) await s!.WriteAsync(Packet, CancellationToken.None);
        Assert.Equal(3, ReadOgg(path, out channels).Count);
        Assert.Equal(2, channels);
    }

    [Fact]
    public async Task Exec_sink_feeds_ogg_opus_on_stdin_and_closes_it_at_the_end()
    {
        string path = Path.Combine(_dir, "exec.ogg");
        var logs = new List<string>();
        await using var sink = AudioSink.Create($"exec:sh -c \"cat > '{path}'\"", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs) });
        await using (var s = await sink.TryOpenAsync(2, CancellationToken.None))
        {
            Assert.NotNull(s);
            for (int i = 0; i < 20; i++) Assert.True(await s!.WriteAsync(Packet, CancellationToken.None));
        }
        // disposing wrote the EOS page and closed stdin; cat exited
        var packets = ReadOgg(path, out int channels);
        Assert.Equal(2, channels);
        Assert.Equal(20, packets.Count);
        Assert.Single(logs, l => l.Contains("talk-back sink started", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Exec_sink_restarts_a_child_that_exits_with_back_off_and_logs_its_stderr()
    {
        var logs = new List<string>();
        var options = new MediaSourceOptions { LoggerFactory = Tools.Logs(logs), InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        // reads 200 octets, complains and exits: every session write after that fails until the restart
        await using var sink = AudioSink.Create("exec:sh -c \"head -c 200 > /dev/null; echo bye-from-child >&2\"", options);
        await using var s = await sink.TryOpenAsync(1, CancellationToken.None);
        long ok = 0, dropped = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        for (int i = 0; i < 400 && !cts.IsCancellationRequested; i++)
        {
            if (await s!.WriteAsync(Packet, cts.Token)) ok++;
            else dropped++;
            await Task.Delay(5, cts.Token);
            int starts;
            lock (logs) starts = logs.Count(l => l.Contains("talk-back sink started", StringComparison.Ordinal));
            if (starts >= 3) break;
        }
        lock (logs)
        {
            Assert.True(logs.Count(l => l.Contains("talk-back sink started", StringComparison.Ordinal)) >= 3, string.Join('\n', logs));
            Assert.Contains(logs, l => l.Contains("restarting talk-back sink", StringComparison.Ordinal));
        }
        Assert.True(dropped > 0 && ok > 0, $"ok {ok} dropped {dropped}");
        for (int i = 0; i < 100; i++)
        {
            lock (logs) if (logs.Any(l => l.Contains("bye-from-child", StringComparison.Ordinal))) return;
            await Task.Delay(20);
        }
        lock (logs) Assert.Fail("the child's stderr line was not logged:\n" + string.Join('\n', logs));
    }

    [Fact]
    public void Empty_exec_and_empty_path_are_refused()
    {
        Assert.Equal(MediaError.UnsupportedSource, Assert.Throws<MediaException>(() => AudioSink.Create("exec:  ")).Error);
        Assert.Equal(MediaError.UnsupportedSource, Assert.Throws<MediaException>(() => AudioSink.Create(" ")).Error);
    }
}
