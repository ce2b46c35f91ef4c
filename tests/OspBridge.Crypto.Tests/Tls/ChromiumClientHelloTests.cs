using OspBridge.Crypto.Tls;

namespace OspBridge.Crypto.Tests.Tls;

public class ChromiumClientHelloTests
{
    [Fact]
    public void Chromium_client_hello_parses_with_the_expected_offer()
    {
        byte[] m = ChromiumClientHello.Bytes;
        Assert.Equal(TlsHandshakeType.ClientHello, m[0]);
        Assert.Equal(m.Length - 4, (m[1] << 16) | (m[2] << 8) | m[3]);
        var ch = ClientHello.Parse(m.AsSpan(4));
        Assert.Equal(new ushort[] { 0x1301, 0x1302, 0x1303 }, ch.CipherSuites);
        Assert.Equal(["h3"], ch.Alpn!);
        Assert.Contains((ushort)0x0304, ch.SupportedVersions!);
        Assert.Contains(NamedGroup.X25519MlKem768, ch.SupportedGroups!);
        Assert.Contains(NamedGroup.X25519, ch.SupportedGroups!);
        Assert.Contains(NamedGroup.Secp256r1, ch.SupportedGroups!);
        Assert.DoesNotContain(ch.KeyShares!, s => s.Group == NamedGroup.Secp256r1);
        Assert.Contains(ch.KeyShares!, s => s.Group == NamedGroup.X25519 && s.Key.Length == 32);
        Assert.Contains(ch.KeyShares!, s => s.Group == NamedGroup.X25519MlKem768 && s.Key.Length == 1216);
        Assert.Contains((ushort)0x0403, ch.SignatureAlgorithms!);
        Assert.NotNull(ch.TransportParameters);
        Assert.Empty(ch.SessionId);
        Assert.Null(ch.ServerName); // numeric host: no SNI
    }

    [Fact]
    public void P256_only_server_answers_chromium_with_hello_retry_request_at_every_split()
    {
        byte[] m = ChromiumClientHello.Bytes;
        byte[]? first = null;
        for (int cut = 0; cut <= m.Length; cut += 1)
        {
            var server = new TlsServerHandshake(TlsPair.ServerOptions("h3"), [NamedGroup.Secp256r1]);
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, m.AsSpan(0, cut));
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, m.AsSpan(cut));
            Assert.True(server.SentHelloRetryRequest);
            Assert.True(server.TryGetOutput(out var o));
            Assert.Equal((TlsOutputKind.CryptoData, TlsEncryptionLevel.Initial), (o.Kind, o.Level));
            Assert.False(server.TryGetOutput(out _)); // no keys before the second ClientHello
            first ??= o.Data.ToArray();
            Assert.Equal(first, o.Data.ToArray()); // deterministic HRR
        }
        var hrr = ServerHello.Parse(first.AsSpan(4));
        Assert.True(hrr.IsHelloRetryRequest);
        Assert.Equal(NamedGroup.Secp256r1, hrr.KeyShareGroup);
        Assert.Equal(0x1301, hrr.CipherSuite);
        // HRR = header 4 + version 2 + random 32 + sid 1 + suite 2 + comp 1 + ext len 2 + supported_versions 6 + key_share 6
        Assert.Equal(56, first!.Length);
    }

    [Fact]
    public void Default_server_answers_chromium_directly_with_x25519()
    {
        var server = new TlsServerHandshake(TlsPair.ServerOptions("h3"));
        server.ProcessCryptoData(TlsEncryptionLevel.Initial, ChromiumClientHello.Bytes);
        Assert.False(server.SentHelloRetryRequest);
        Assert.True(server.TryGetOutput(out var o));
        var sh = ServerHello.Parse(o.Data.Span[4..]);
        Assert.False(sh.IsHelloRetryRequest);
        Assert.Equal(NamedGroup.X25519, sh.KeyShareGroup);
        Assert.Equal(32, sh.KeyShare!.Length);
        Assert.True(server.TryGetOutput(out var secret));
        Assert.Equal(TlsOutputKind.Secret, secret.Kind);
        Assert.Equal("h3", server.NegotiatedApplicationProtocol);
    }
}
