using System.Globalization;
using System.Security.Cryptography;
using OspBridge.Bridge.Pairing;
using OspBridge.Net.Channels;

namespace OspBridge.Bridge.Tests.Pairing;

public sealed class FileTransferTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-ft-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private async Task<(FileTransferResult Sent, FileTransferResult Received)> TransferAsync(byte[] content, string name, long maxMessageSize = 0, long maxFile = FileTransfer.DefaultMaxFileBytes)
    {
        var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, name, maxMessageSize);
        var receive = FileTransfer.ReceiveAsync(b, _dir, maxFile, CancellationToken.None);
        long lastProgress = 0;
        var progress = new SyncProgress(v => lastProgress = v);
        var sent = await FileTransfer.SendAsync(a, new MemoryStream(content), progress, CancellationToken.None).WaitAsync(Timeout);
        var received = await receive.WaitAsync(Timeout);
        if (sent.Ok) Assert.Equal(content.Length, lastProgress);
        return (sent, received);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(FileTransfer.ChunkSize)]
    [InlineData(FileTransfer.ChunkSize + 1)]
    [InlineData(3 * 1024 * 1024 + 17)]
    public async Task FileArrivesByteExactAndBothSidesAgree(int size)
    {
        var content = new byte[size];
        new Random(size).NextBytes(content);
        var (sent, received) = await TransferAsync(content, "photo.jpg");
        Assert.True(sent.Ok, sent.Error);
        Assert.True(received.Ok, received.Error);
        Assert.Equal(size, sent.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), sent.Sha256Hex);
        Assert.Equal(sent.Sha256Hex, received.Sha256Hex);
        Assert.Equal(Path.Combine(_dir, "photo.jpg"), received.Path);
        Assert.Equal(content, File.ReadAllBytes(received.Path!));
        Assert.Single(Directory.GetFiles(_dir)); // no temporary file left
    }

    [Fact]
    public async Task WireFormatIsChunksThenEndMarkerAndOkReply()
    {
        var content = Encoding.ASCII.GetBytes("hello file");
        var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "note.txt");
        var receive = FileTransfer.ReceiveAsync(b, _dir, 1000, CancellationToken.None);
        var sent = await FileTransfer.SendAsync(a, new MemoryStream(content), null, CancellationToken.None).WaitAsync(Timeout);
        await receive.WaitAsync(Timeout);
        Assert.True(sent.Ok);
        string sha = Convert.ToHexStringLower(SHA256.HashData(content));
        Assert.Equal(2, a.Sent.Count);
        Assert.False(a.Sent[0].IsText);
        Assert.Equal(content, a.Sent[0].Data.ToArray());
        Assert.True(a.Sent[1].IsText);
        Assert.Equal("end 10 " + sha, Encoding.UTF8.GetString(a.Sent[1].Data.Span));
        Assert.Single(b.Sent);
        Assert.True(b.Sent[0].IsText);
        Assert.Equal("ok 10 " + sha, Encoding.UTF8.GetString(b.Sent[0].Data.Span));
    }

    [Fact]
    public async Task SmallPeerMessageLimitShrinksChunks()
    {
        var content = new byte[10_000];
        var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "x.bin", maxMessageSize: 1000);
        var receive = FileTransfer.ReceiveAsync(b, _dir, 1 << 20, CancellationToken.None);
        var sent = await FileTransfer.SendAsync(a, new MemoryStream(content), null, CancellationToken.None).WaitAsync(Timeout);
        Assert.True((await receive.WaitAsync(Timeout)).Ok);
        Assert.True(sent.Ok);
        Assert.All(a.Sent.Where(m => !m.IsText), m => Assert.True(m.Data.Length <= 1000));
        Assert.Equal(10, a.Sent.Count(m => !m.IsText));
    }

    [Fact]
    public async Task ExistingFileIsNeverOverwritten()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "a.txt"), "old");
        var (_, r1) = await TransferAsync([1, 2, 3], "a.txt");
        var (_, r2) = await TransferAsync([4, 5], "a.txt");
        Assert.Equal("old", File.ReadAllText(Path.Combine(_dir, "a.txt")));
        Assert.Equal(Path.Combine(_dir, "a (1).txt"), r1.Path);
        Assert.Equal(Path.Combine(_dir, "a (2).txt"), r2.Path);
        Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(r2.Path!));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData(".hidden")]
    [InlineData("bell\a")]
    public async Task UnsafeNamesAreRefusedAndNothingIsWritten(string name)
    {
        Assert.False(FileTransfer.IsValidName(name));
        var (sent, received) = await TransferAsync([1, 2, 3], name);
        Assert.False(received.Ok);
        Assert.False(sent.Ok);
        Assert.Contains("invalid file name", sent.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir) && Directory.EnumerateFileSystemEntries(_dir).Any());
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), "escape")));
    }

    [Fact]
    public void LongNamesAreRefusedByUtf8Length()
    {
        Assert.True(FileTransfer.IsValidName(new string('a', 255)));
        Assert.False(FileTransfer.IsValidName(new string('a', 256)));
        Assert.False(FileTransfer.IsValidName(new string('é', 128))); // 256 UTF-8 bytes
        Assert.True(FileTransfer.IsValidName("Résumé 2026.pdf"));
    }

    [Fact]
    public async Task TooLargeFileIsRefusedAndDeleted()
    {
        var (sent, received) = await TransferAsync(new byte[5000], "big.bin", maxFile: 4096);
        Assert.False(received.Ok);
        Assert.Equal("file too large", received.Error);
        Assert.False(sent.Ok);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task WrongHashOrCountIsRefusedAndDeleted()
    {
        foreach (string end in new[] { "end 3 " + new string('0', 64), "end 4 " + Convert.ToHexStringLower(SHA256.HashData(new byte[] { 1, 2, 3 })), "fin", "end" })
        {
            var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "f.bin");
            var receive = FileTransfer.ReceiveAsync(b, _dir, 1000, CancellationToken.None);
            await a.SendAsync(new byte[] { 1, 2, 3 }, isText: false);
            await a.SendAsync(Encoding.UTF8.GetBytes(end), isText: true);
            var r = await receive.WaitAsync(Timeout);
            Assert.False(r.Ok, end);
            var reply = await a.ReceiveAsync().AsTask().WaitAsync(Timeout);
            Assert.StartsWith("error ", Encoding.UTF8.GetString(reply!.Value.Data.Span), StringComparison.Ordinal);
            Assert.Empty(Directory.GetFiles(_dir));
        }
    }

    [Fact]
    public async Task SenderVanishingMidwayLeavesNoFile()
    {
        var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "f.bin");
        var receive = FileTransfer.ReceiveAsync(b, _dir, 1000, CancellationToken.None);
        await a.SendAsync(new byte[] { 1, 2, 3 }, isText: false);
        await a.CloseAsync();
        var r = await receive.WaitAsync(Timeout);
        Assert.False(r.Ok);
        Assert.Contains("closed", r.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task SenderRejectsAConfirmationOfOtherBytes()
    {
        foreach (string reply in new[] { "ok 2 " + new string('0', 64), "ok", "error disk full" })
        {
            var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "f.bin");
            var send = FileTransfer.SendAsync(a, new MemoryStream([1, 2]), null, CancellationToken.None);
            Assert.NotNull(await b.ReceiveAsync().AsTask().WaitAsync(Timeout)); // chunk
            Assert.NotNull(await b.ReceiveAsync().AsTask().WaitAsync(Timeout)); // end marker
            await b.SendAsync(Encoding.UTF8.GetBytes(reply), isText: true);
            var r = await send.WaitAsync(Timeout);
            Assert.False(r.Ok, reply);
            Assert.NotNull(r.Error);
        }
        var (x, y) = MemoryChannel.CreatePair(FileTransfer.Label, "f.bin");
        var closed = FileTransfer.SendAsync(x, new MemoryStream([1]), null, CancellationToken.None);
        await y.ReceiveAsync();
        await y.ReceiveAsync();
        await y.CloseAsync();
        Assert.False((await closed.WaitAsync(Timeout)).Ok);
    }

    /// <summary>Seeded hostile senders: random chunks, text at random places, mutated end markers, early closes.</summary>
    [Fact]
    public async Task HostileSendersNeverCrashTheReceiverNorLeavePartialFiles()
    {
        var rng = new Random(20261206);
        for (int round = 0; round < 200; round++)
        {
            var (a, b) = MemoryChannel.CreatePair(FileTransfer.Label, "h.bin");
            var receive = FileTransfer.ReceiveAsync(b, _dir, 4096, CancellationToken.None);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            int steps = rng.Next(0, 6);
            bool ended = false;
            for (int i = 0; i < steps && !ended; i++)
            {
                switch (rng.Next(4))
                {
                    case 0:
                    case 1:
                        var chunk = new byte[rng.Next(0, 2000)];
                        rng.NextBytes(chunk);
                        hash.AppendData(chunk);
                        total += chunk.Length;
                        await a.SendAsync(chunk, isText: false);
                        break;
                    case 2:
                        var junk = new byte[rng.Next(0, 400)];
                        rng.NextBytes(junk);
                        await a.SendAsync(junk, isText: true);
                        ended = true;
                        break;
                    default:
                        string end = string.Create(CultureInfo.InvariantCulture, $"end {total} {Convert.ToHexStringLower(hash.GetCurrentHash())}");
                        var bytes = Encoding.UTF8.GetBytes(end);
                        if (rng.Next(2) == 0) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                        await a.SendAsync(bytes, isText: true);
                        ended = true;
                        break;
                }
            }
            if (!ended) await a.CloseAsync();
            var r = await receive.WaitAsync(Timeout);
            var left = Directory.Exists(_dir) ? Directory.GetFiles(_dir) : [];
            if (r.Ok)
            {
                Assert.Single(left);
                Assert.Equal(r.Bytes, new FileInfo(left[0]).Length);
                File.Delete(left[0]);
            }
            else
            {
                Assert.Empty(left);
            }
        }
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
