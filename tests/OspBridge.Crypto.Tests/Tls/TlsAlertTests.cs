using OspBridge.Crypto;
using OspBridge.Crypto.Tls;

namespace OspBridge.Crypto.Tests.Tls;

/// <summary>Specific malformed or illegal handshake inputs map to the RFC 8446 alert they deserve.</summary>
public class TlsAlertTests
{
    private static ClientHello ValidHello()
    {
        var client = QuicTls.Create(TlsPair.ClientOptions());
        client.Start();
        client.TryGetOutput(out var o);
        return ClientHello.Parse(o.Data.Span[4..]);
    }

    private static byte[] Encode(ClientHello ch)
    {
        var w = new TlsWriter();
        ch.Write(w);
        return w.ToArray();
    }

    private static byte ServerAlert(byte[] message)
    {
        var server = QuicTls.Create(TlsPair.ServerOptions());
        var e = Assert.Throws<CryptoException>(() => server.ProcessCryptoData(TlsEncryptionLevel.Initial, message));
        return e.Alert;
    }

    [Fact]
    public void Client_hello_without_tls13_is_protocol_version()
    {
        var ch = ValidHello();
        ch.SupportedVersions = [0x0303];
        Assert.Equal(TlsAlert.ProtocolVersion, ServerAlert(Encode(ch)));
        ch.SupportedVersions = null;
        Assert.Equal(TlsAlert.ProtocolVersion, ServerAlert(Encode(ch)));
    }

    [Fact]
    public void No_common_suite_or_group_is_handshake_failure()
    {
        var ch = ValidHello();
        ch.CipherSuites = [0x1304, 0x00FF];
        Assert.Equal(TlsAlert.HandshakeFailure, ServerAlert(Encode(ch)));
        ch = ValidHello();
        ch.SupportedGroups = [NamedGroup.Secp384r1];
        ch.KeyShares = [];
        Assert.Equal(TlsAlert.HandshakeFailure, ServerAlert(Encode(ch)));
        ch = ValidHello();
        ch.SignatureAlgorithms = [0x0401, 0x0201]; // rsa_pkcs1 only: not usable with our ECDSA key in TLS 1.3
        Assert.Equal(TlsAlert.HandshakeFailure, ServerAlert(Encode(ch)));
    }

    [Fact]
    public void Key_share_problems_are_illegal_parameter()
    {
        var ch = ValidHello();
        ch.SupportedGroups = [NamedGroup.Secp256r1]; // share for x25519 not listed in supported_groups
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(Encode(ch)));
        ch = ValidHello();
        ch.KeyShares = [(NamedGroup.X25519, new byte[31])]; // wrong length
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(Encode(ch)));
        ch = ValidHello();
        ch.KeyShares = [(NamedGroup.X25519, new byte[32])]; // zero point → zero shared secret
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(Encode(ch)));
        ch = ValidHello();
        var bad = new byte[65];
        bad[0] = 4;
        bad[1] = 1; // not on the curve
        ch.SupportedGroups = [NamedGroup.Secp256r1];
        ch.KeyShares = [(NamedGroup.Secp256r1, bad)];
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(Encode(ch)));
    }

    [Fact]
    public void Encoding_errors_are_decode_error_or_illegal_parameter()
    {
        byte[] good = Encode(ValidHello());
        // Truncated body with a consistent header.
        byte[] truncated = good[..60];
        truncated[1] = 0; truncated[2] = 0; truncated[3] = 56;
        Assert.Equal(TlsAlert.DecodeError, ServerAlert(truncated));
        // Trailing garbage inside the message.
        byte[] longer = [.. good, 0xAA];
        int len = longer.Length - 4;
        longer[1] = (byte)(len >> 16); longer[2] = (byte)(len >> 8); longer[3] = (byte)len;
        Assert.Equal(TlsAlert.DecodeError, ServerAlert(longer));
        // Compression method other than null: illegal_parameter. Offset: 4 + 2 + 32 + 1 (empty sid) + 2 + suites.
        int suitesLen = (good[39] << 8) | good[40];
        byte[] comp = (byte[])good.Clone();
        comp[41 + suitesLen + 1] = 1;
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(comp));
    }

    [Fact]
    public void Duplicate_extension_and_misplaced_psk_are_illegal_parameter()
    {
        byte[] good = Encode(ValidHello());
        // Append a duplicate ALPN extension: rebuild the extensions block length and message length.
        byte[] alpn = [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, (byte)'h', (byte)'3'];
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(AppendExtension(good, alpn)));
        // pre_shared_key (41) followed by another extension.
        byte[] psk = [0x00, 0x29, 0x00, 0x00];
        byte[] grease = [0x0A, 0x0A, 0x00, 0x00];
        Assert.Equal(TlsAlert.IllegalParameter, ServerAlert(AppendExtension(AppendExtension(good, psk), grease)));
        // Unknown (GREASE) extensions alone are fine.
        var server = QuicTls.Create(TlsPair.ServerOptions());
        server.ProcessCryptoData(TlsEncryptionLevel.Initial, AppendExtension(good, grease));
        Assert.True(server.TryGetOutput(out _));
    }

    private static byte[] AppendExtension(byte[] message, byte[] ext)
    {
        // extensions block is the tail of the ClientHello; its 2-byte length precedes it.
        int suitesLen = (message[39] << 8) | message[40];
        int compLenPos = 41 + suitesLen;
        int extLenPos = compLenPos + 1 + message[compLenPos];
        int extLen = (message[extLenPos] << 8) | message[extLenPos + 1];
        byte[] r = [.. message, .. ext];
        extLen += ext.Length;
        r[extLenPos] = (byte)(extLen >> 8);
        r[extLenPos + 1] = (byte)extLen;
        int len = r.Length - 4;
        r[1] = (byte)(len >> 16); r[2] = (byte)(len >> 8); r[3] = (byte)len;
        return r;
    }

    [Fact]
    public void Server_hello_problems_at_the_client()
    {
        static byte ClientAlert(Action<ServerHello> change)
        {
            var client = new TlsClientHandshake(TlsPair.ClientOptions());
            client.Start();
            client.TryGetOutput(out var ch);
            var server = QuicTls.Create(TlsPair.ServerOptions());
            server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.Data.Span);
            server.TryGetOutput(out var shOut);
            var sh = ServerHello.Parse(shOut.Data.Span[4..]);
            change(sh);
            var w = new TlsWriter();
            sh.Write(w);
            return Assert.Throws<CryptoException>(() => client.ProcessCryptoData(TlsEncryptionLevel.Initial, w.Written)).Alert;
        }
        Assert.Equal(TlsAlert.IllegalParameter, ClientAlert(sh => sh.CipherSuite = 0x1304)); // not offered
        Assert.Equal(TlsAlert.IllegalParameter, ClientAlert(sh => sh.SessionIdEcho = [1, 2, 3]));
        Assert.Equal(TlsAlert.IllegalParameter, ClientAlert(sh => sh.KeyShareGroup = NamedGroup.Secp384r1));
        Assert.Equal(TlsAlert.IllegalParameter, ClientAlert(sh => sh.KeyShare = new byte[32])); // zero x25519 point
        // HRR selecting a group we already sent a share for: illegal_parameter.
        Assert.Equal(TlsAlert.IllegalParameter, ClientAlert(sh =>
        {
            TlsConst.HelloRetryRequestRandom.CopyTo(sh.Random);
            sh.KeyShare = null;
            sh.KeyShareGroup = NamedGroup.X25519;
        }));
    }

    [Fact]
    public void Second_hello_retry_request_is_unexpected_message()
    {
        var client = new TlsClientHandshake(TlsPair.ClientOptions(), sendInitialKeyShare: false);
        client.Start();
        client.TryGetOutput(out _);
        var hrr = new ServerHello { CipherSuite = 0x1301, KeyShareGroup = NamedGroup.Secp256r1 };
        TlsConst.HelloRetryRequestRandom.CopyTo(hrr.Random);
        var w = new TlsWriter();
        hrr.Write(w);
        client.ProcessCryptoData(TlsEncryptionLevel.Initial, w.Written);
        Assert.True(client.ReceivedHelloRetryRequest);
        var e = Assert.Throws<CryptoException>(() => client.ProcessCryptoData(TlsEncryptionLevel.Initial, w.Written));
        Assert.Equal(TlsAlert.UnexpectedMessage, e.Alert);
    }

    [Fact]
    public void Encrypted_extensions_problems_at_the_client()
    {
        static byte Alert(Func<byte[], byte[]> rewriteEe, string[]? serverAlpn = null)
        {
            var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions(serverAlpn ?? ["h3"]));
            pair.Client.Start();
            pair.Client.TryGetOutput(out var ch);
            pair.Server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.Data.Span);
            byte[]? sh = null, flight = null;
            while (pair.Server.TryGetOutput(out var o))
                if (o.Kind == TlsOutputKind.CryptoData) { if (o.Level == TlsEncryptionLevel.Initial) sh = o.Data.ToArray(); else flight = o.Data.ToArray(); }
            pair.Client.ProcessCryptoData(TlsEncryptionLevel.Initial, sh);
            int eeLen = (flight![1] << 16) | (flight[2] << 8) | flight[3];
            byte[] ee = rewriteEe(flight[..(4 + eeLen)]);
            return Assert.Throws<CryptoException>(() => pair.Client.ProcessCryptoData(TlsEncryptionLevel.Handshake, ee)).Alert;
        }
        static byte[] Ee(params byte[][] exts)
        {
            byte[] block = [.. exts.SelectMany(e => e)];
            byte[] body = [(byte)(block.Length >> 8), (byte)block.Length, .. block];
            return [8, 0, (byte)(body.Length >> 8), (byte)body.Length, .. body];
        }
        byte[] tp = [0x00, 0x39, 0x00, 0x01, 0x01];
        byte[] alpnH3 = [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, (byte)'h', (byte)'3'];
        byte[] alpnOther = [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, (byte)'x', (byte)'y'];
        Assert.Equal(TlsAlert.MissingExtension, Alert(_ => Ee(alpnH3)));
        Assert.Equal(TlsAlert.NoApplicationProtocol, Alert(_ => Ee(tp)));
        Assert.Equal(TlsAlert.IllegalParameter, Alert(_ => Ee(tp, alpnOther)));
        Assert.Equal(TlsAlert.UnsupportedExtension, Alert(_ => Ee(tp, alpnH3, [0x00, 0x2a, 0x00, 0x00]))); // early_data not offered
        Assert.Equal(TlsAlert.IllegalParameter, Alert(_ => Ee(tp, tp)));
    }
}
