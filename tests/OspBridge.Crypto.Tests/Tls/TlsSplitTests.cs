using OspBridge.Crypto;
using OspBridge.Crypto.Tls;

namespace OspBridge.Crypto.Tests.Tls;

public class TlsSplitTests
{
    [Fact]
    public void Client_hello_split_at_every_byte_boundary_gives_the_same_answer()
    {
        var client = QuicTls.Create(TlsPair.ClientOptions());
        client.Start();
        Assert.True(client.TryGetOutput(out var o));
        byte[] ch = o.Data.ToArray();
        Assert.True(ch.Length > 100);
        for (int cut = 0; cut <= ch.Length; cut++)
        {
            var server = QuicTls.Create(TlsPair.ServerOptions());
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.AsSpan(0, cut));
            TlsOutput sh;
            if (cut < ch.Length)
            {
                Assert.False(server.TryGetOutput(out _)); // nothing before the message is complete
                server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.AsSpan(cut));
            }
            Assert.True(server.TryGetOutput(out sh));
            Assert.Equal((TlsOutputKind.CryptoData, TlsEncryptionLevel.Initial), (sh.Kind, sh.Level));
            Assert.Equal((byte)2, sh.Data.Span[0]);
        }
    }

    [Fact]
    public void Client_hello_in_three_pieces_at_many_boundaries()
    {
        var client = QuicTls.Create(TlsPair.ClientOptions());
        client.Start();
        client.TryGetOutput(out var o);
        byte[] ch = o.Data.ToArray();
        var rng = new Random(4711);
        for (int i = 0; i < 200; i++)
        {
            int a = rng.Next(ch.Length + 1), b = rng.Next(ch.Length + 1);
            if (a > b) (a, b) = (b, a);
            var server = QuicTls.Create(TlsPair.ServerOptions());
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.AsSpan(0, a));
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.AsSpan(a, b - a));
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.AsSpan(b));
            Assert.True(server.TryGetOutput(out var sh));
            Assert.Equal((byte)2, sh.Data.Span[0]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(1200)]
    public void Whole_handshake_with_every_flight_delivered_in_small_chunks(int chunk)
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions()) { ChunkSize = chunk };
        pair.Run();
        Assert.True(pair.Client.IsHandshakeComplete);
        Assert.True(pair.Server.IsHandshakeComplete);
        pair.AssertSecretsMatch();
    }

    [Fact]
    public void Bytes_after_the_server_hello_at_the_initial_level_are_refused()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions());
        pair.Client.Start();
        pair.Client.TryGetOutput(out var ch);
        pair.Server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.Data.Span);
        pair.Server.TryGetOutput(out var sh);
        byte[] withJunk = [.. sh.Data.Span, 20, 0];
        var e = Assert.Throws<CryptoException>(() => pair.Client.ProcessCryptoData(TlsEncryptionLevel.Initial, withJunk));
        Assert.Equal(TlsAlert.UnexpectedMessage, e.Alert);
    }
}
