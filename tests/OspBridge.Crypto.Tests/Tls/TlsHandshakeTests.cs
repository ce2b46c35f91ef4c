using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto;
using OspBridge.Crypto.Tls;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Tests.Tls;

public class TlsHandshakeTests
{
    [Theory]
    [InlineData(Tls13CipherSuite.Aes128GcmSha256, 32)]
    [InlineData(Tls13CipherSuite.Aes256GcmSha384, 48)]
    [InlineData(Tls13CipherSuite.ChaCha20Poly1305Sha256, 32)]
    public void Handshake_completes_for_every_suite(Tls13CipherSuite suite, int secretLength)
    {
        var c = TlsPair.ClientOptions();
        var pair = new TlsPair(new QuicTlsOptions
        {
            IsClient = true, ServerName = c.ServerName, ApplicationProtocols = c.ApplicationProtocols,
            LocalTransportParameters = c.LocalTransportParameters, CipherSuites = [suite],
        }, TlsPair.ServerOptions());
        pair.Run();
        Assert.True(pair.Client.IsHandshakeComplete);
        Assert.True(pair.Server.IsHandshakeComplete);
        Assert.Equal(1, pair.ClientCompleteEvents);
        Assert.Equal(1, pair.ServerCompleteEvents);
        Assert.Equal(suite, pair.Client.CipherSuite);
        Assert.Equal(suite, pair.Server.CipherSuite);
        pair.AssertSecretsMatch();
        Assert.Equal(secretLength, pair.Secrets[(true, TlsEncryptionLevel.Application, true)].Length);
        Assert.Equal("h3", pair.Client.NegotiatedApplicationProtocol);
        Assert.Equal("h3", pair.Server.NegotiatedApplicationProtocol);
        Assert.Equal(new byte[] { 9, 8, 7, 6 }, pair.Client.PeerTransportParameters.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, pair.Server.PeerTransportParameters.ToArray());
        Assert.Equal("server.test", pair.Server.ServerName);
        Assert.Equal(TestCerts.Server.RawData, pair.Client.PeerCertificate!.RawData);
        Assert.Null(pair.Server.PeerCertificate);
        Assert.False(((TlsServerHandshake)pair.Server).SentHelloRetryRequest);
    }

    [Fact]
    public void Server_prefers_its_own_suite_order()
    {
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(TlsPair.ClientOptions(), new QuicTlsOptions
        {
            Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols, LocalTransportParameters = s.LocalTransportParameters,
            CipherSuites = [Tls13CipherSuite.ChaCha20Poly1305Sha256, Tls13CipherSuite.Aes128GcmSha256],
        });
        pair.Run();
        Assert.Equal(Tls13CipherSuite.ChaCha20Poly1305Sha256, pair.Client.CipherSuite);
        pair.AssertSecretsMatch();
    }

    [Fact]
    public void Hello_retry_request_round_trip()
    {
        var client = new TlsClientHandshake(TlsPair.ClientOptions(), sendInitialKeyShare: false);
        var server = (TlsServerHandshake)QuicTls.Create(TlsPair.ServerOptions());
        var pair = new TlsPair(client, server);
        pair.Run();
        Assert.True(server.SentHelloRetryRequest);
        Assert.True(client.ReceivedHelloRetryRequest);
        Assert.True(client.IsHandshakeComplete);
        Assert.True(server.IsHandshakeComplete);
        pair.AssertSecretsMatch();
        // Two client Initial flights (CH1, CH2) and two server Initial flights (HRR, SH).
        Assert.Equal(2, pair.Flights.Count(f => f.fromClient && f.level == TlsEncryptionLevel.Initial));
        Assert.Equal(2, pair.Flights.Count(f => !f.fromClient && f.level == TlsEncryptionLevel.Initial));
    }

    [Fact]
    public void Hello_retry_request_from_a_p256_only_server_to_our_default_client_is_not_needed()
    {
        // Our client shares x25519 and P-256, so a P-256-only server answers directly.
        var server = new TlsServerHandshake(TlsPair.ServerOptions(), [NamedGroup.Secp256r1]);
        var pair = new TlsPair(QuicTls.Create(TlsPair.ClientOptions()), server);
        pair.Run();
        Assert.False(server.SentHelloRetryRequest);
        pair.AssertSecretsMatch();
    }

    [Theory]
    [InlineData(new ushort[] { NamedGroup.Secp256r1 })]
    [InlineData(new ushort[] { NamedGroup.X25519 })]
    public void Hello_retry_request_for_each_group(ushort[] serverGroups)
    {
        var client = new TlsClientHandshake(TlsPair.ClientOptions(), sendInitialKeyShare: false);
        var server = new TlsServerHandshake(TlsPair.ServerOptions(), serverGroups);
        var pair = new TlsPair(client, server);
        pair.Run();
        Assert.True(server.SentHelloRetryRequest);
        Assert.True(client.ReceivedHelloRetryRequest);
        pair.AssertSecretsMatch();
    }

    [Fact]
    public void Mutual_authentication_with_required_client_certificate()
    {
        X509Certificate2? seenByServer = null, seenByClient = null;
        var c = TlsPair.ClientOptions();
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(
            new QuicTlsOptions
            {
                IsClient = true, ServerName = c.ServerName, ApplicationProtocols = c.ApplicationProtocols, LocalTransportParameters = c.LocalTransportParameters,
                Certificate = TestCerts.Client,
                ValidatePeerCertificate = (leaf, chain) => { seenByClient = leaf; return chain.Count == 0; },
            },
            new QuicTlsOptions
            {
                Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols, LocalTransportParameters = s.LocalTransportParameters,
                RequireClientCertificate = true,
                ValidatePeerCertificate = (leaf, _) => { seenByServer = leaf; return CertificateFingerprint.OfSpki(leaf, System.Security.Cryptography.HashAlgorithmName.SHA256).AsSpan().SequenceEqual(CertificateFingerprint.OfSpki(TestCerts.Client, System.Security.Cryptography.HashAlgorithmName.SHA256)); },
            });
        pair.Run();
        Assert.True(pair.Client.IsHandshakeComplete);
        Assert.True(pair.Server.IsHandshakeComplete);
        pair.AssertSecretsMatch();
        Assert.Equal(TestCerts.Client.RawData, seenByServer!.RawData);
        Assert.Equal(TestCerts.Server.RawData, seenByClient!.RawData);
        Assert.Equal(TestCerts.Client.RawData, pair.Server.PeerCertificate!.RawData);
    }

    [Fact]
    public void Required_client_certificate_missing_fails_with_certificate_required()
    {
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(TlsPair.ClientOptions(), new QuicTlsOptions
        {
            Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols, LocalTransportParameters = s.LocalTransportParameters,
            RequireClientCertificate = true,
        });
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.CertificateRequired, e.Alert);
        Assert.True(pair.Client.IsHandshakeComplete); // the client finished its side; the server refuses
        Assert.False(pair.Server.IsHandshakeComplete);
    }

    [Fact]
    public void Alpn_mismatch_fails_with_no_application_protocol()
    {
        var pair = new TlsPair(TlsPair.ClientOptions("h3"), TlsPair.ServerOptions("osp"));
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.NoApplicationProtocol, e.Alert);
        Assert.False(pair.Server.IsHandshakeComplete);
    }

    [Fact]
    public void Server_picks_first_alpn_of_its_own_list()
    {
        var pair = new TlsPair(TlsPair.ClientOptions("a", "osp", "h3"), TlsPair.ServerOptions("h3", "osp"));
        pair.Run();
        Assert.Equal("h3", pair.Client.NegotiatedApplicationProtocol);
    }

    [Fact]
    public void Client_rejecting_server_certificate_fails_with_bad_certificate()
    {
        var c = TlsPair.ClientOptions();
        var pair = new TlsPair(new QuicTlsOptions
        {
            IsClient = true, ApplicationProtocols = c.ApplicationProtocols, LocalTransportParameters = c.LocalTransportParameters,
            ValidatePeerCertificate = (_, _) => false,
        }, TlsPair.ServerOptions());
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.BadCertificate, e.Alert);
        Assert.Equal(CryptoError.BadCertificate, e.Error);
        Assert.False(pair.Client.IsHandshakeComplete);
        // a failed engine stays failed
        Assert.Throws<CryptoException>(() => pair.Client.ProcessCryptoData(TlsEncryptionLevel.Handshake, new byte[] { 20 }));
    }

    [Fact]
    public void Server_rejecting_client_certificate_fails_with_bad_certificate()
    {
        var c = TlsPair.ClientOptions();
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(
            new QuicTlsOptions { IsClient = true, ApplicationProtocols = c.ApplicationProtocols, LocalTransportParameters = c.LocalTransportParameters, Certificate = TestCerts.Client },
            new QuicTlsOptions
            {
                Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols, LocalTransportParameters = s.LocalTransportParameters,
                RequireClientCertificate = true, ValidatePeerCertificate = (_, _) => false,
            });
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.BadCertificate, e.Alert);
    }

    [Fact]
    public void Tampered_server_finished_fails_with_decrypt_error()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions())
        {
            Tamper = (fromClient, level, data) =>
            {
                if (!fromClient && level == TlsEncryptionLevel.Handshake) data[^1] ^= 1;
                return data;
            },
        };
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.DecryptError, e.Alert);
    }

    [Fact]
    public void Tampered_certificate_verify_fails_with_decrypt_error()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions())
        {
            Tamper = (fromClient, level, data) =>
            {
                if (!fromClient && level == TlsEncryptionLevel.Handshake)
                {
                    // The CertificateVerify signature ends right before the Finished (4 + 32 bytes).
                    data[^(4 + 32 + 3)] ^= 0x40;
                }
                return data;
            },
        };
        var e = Assert.Throws<CryptoException>(pair.Run);
        Assert.Equal(TlsAlert.DecryptError, e.Alert);
    }

    [Fact]
    public void Missing_transport_parameters_fail_with_missing_extension()
    {
        var c = TlsPair.ClientOptions();
        var client = new TlsClientHandshake(new QuicTlsOptions { IsClient = true, ApplicationProtocols = ["h3"] });
        // Remove the extension by building a ClientHello without it.
        var ch = new ClientHello
        {
            CipherSuites = [0x1301], SupportedVersions = [0x0304], SupportedGroups = [0x17],
            SignatureAlgorithms = [0x0403], Alpn = ["h3"], KeyShares = [(0x17, FakeP256Point())],
        };
        var w = new TlsWriter();
        ch.Write(w);
        var server = QuicTls.Create(TlsPair.ServerOptions());
        var e = Assert.Throws<CryptoException>(() => server.ProcessCryptoData(TlsEncryptionLevel.Initial, w.ToArray()));
        Assert.Equal(TlsAlert.MissingExtension, e.Alert);
        _ = client;
        _ = c;
    }

    internal static byte[] FakeP256Point()
    {
        using var k = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var p = k.ExportParameters(false);
        return [4, .. p.Q.X!, .. p.Q.Y!];
    }

    [Fact]
    public void Key_log_lines_match_the_secrets()
    {
        var clientLog = new StringWriter();
        var serverLog = new StringWriter();
        var c = TlsPair.ClientOptions();
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(
            new QuicTlsOptions { IsClient = true, ApplicationProtocols = c.ApplicationProtocols, LocalTransportParameters = c.LocalTransportParameters, KeyLog = clientLog },
            new QuicTlsOptions { Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols, LocalTransportParameters = s.LocalTransportParameters, KeyLog = serverLog });
        pair.Run();
        var lines = clientLog.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal(clientLog.ToString(), serverLog.ToString());
        var map = lines.Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[2]);
        Assert.Equal(Convert.ToHexStringLower(pair.Secrets[(true, TlsEncryptionLevel.Handshake, true)]), map["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]);
        Assert.Equal(Convert.ToHexStringLower(pair.Secrets[(false, TlsEncryptionLevel.Handshake, true)]), map["SERVER_HANDSHAKE_TRAFFIC_SECRET"]);
        Assert.Equal(Convert.ToHexStringLower(pair.Secrets[(true, TlsEncryptionLevel.Application, true)]), map["CLIENT_TRAFFIC_SECRET_0"]);
        Assert.Equal(Convert.ToHexStringLower(pair.Secrets[(false, TlsEncryptionLevel.Application, true)]), map["SERVER_TRAFFIC_SECRET_0"]);
        Assert.All(lines, l => Assert.Equal(64, l.Split(' ')[1].Length));
    }

    [Fact]
    public void Output_order_follows_the_contract()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions());
        pair.Client.Start();
        Assert.True(pair.Client.TryGetOutput(out var ch));
        Assert.Equal((TlsOutputKind.CryptoData, TlsEncryptionLevel.Initial), (ch.Kind, ch.Level));
        Assert.False(pair.Client.TryGetOutput(out _));
        pair.Server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.Data.Span);
        var kinds = new List<(TlsOutputKind, TlsEncryptionLevel, bool)>();
        var server = new List<TlsOutput>();
        while (pair.Server.TryGetOutput(out var o)) { kinds.Add((o.Kind, o.Level, o.IsWrite)); server.Add(o); }
        Assert.Equal(
        [
            (TlsOutputKind.CryptoData, TlsEncryptionLevel.Initial, true),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Handshake, true),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Handshake, false),
            (TlsOutputKind.CryptoData, TlsEncryptionLevel.Handshake, true),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Application, true),
        ], kinds);
        Assert.False(pair.Server.IsHandshakeComplete); // server completes only after the client Finished (RFC 9001 §4.1.1)
        pair.Client.ProcessCryptoData(TlsEncryptionLevel.Initial, server[0].Data.Span);
        pair.Client.ProcessCryptoData(TlsEncryptionLevel.Handshake, server[3].Data.Span);
        var ckinds = new List<(TlsOutputKind, TlsEncryptionLevel, bool)>();
        TlsOutput fin = default;
        while (pair.Client.TryGetOutput(out var o)) { ckinds.Add((o.Kind, o.Level, o.IsWrite)); if (o.Kind == TlsOutputKind.CryptoData) fin = o; }
        Assert.Equal(
        [
            (TlsOutputKind.Secret, TlsEncryptionLevel.Handshake, false),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Handshake, true),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Application, false),
            (TlsOutputKind.CryptoData, TlsEncryptionLevel.Handshake, true),
            (TlsOutputKind.Secret, TlsEncryptionLevel.Application, true),
            (TlsOutputKind.HandshakeComplete, TlsEncryptionLevel.Application, false),
        ], ckinds);
        pair.Server.ProcessCryptoData(TlsEncryptionLevel.Handshake, fin.Data.Span);
        Assert.True(pair.Server.TryGetOutput(out var rs));
        Assert.Equal((TlsOutputKind.Secret, TlsEncryptionLevel.Application, false), (rs.Kind, rs.Level, rs.IsWrite));
        Assert.True(pair.Server.TryGetOutput(out var done));
        Assert.Equal(TlsOutputKind.HandshakeComplete, done.Kind);
        Assert.True(pair.Server.IsHandshakeComplete);
    }

    [Fact]
    public void Post_handshake_new_session_ticket_is_ignored_and_key_update_is_refused()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), TlsPair.ServerOptions());
        pair.Run();
        // NewSessionTicket: lifetime, age_add, nonce<1>, ticket<3>, extensions<0>
        byte[] nst = [4, 0, 0, 17, 0, 0, 0, 60, 1, 2, 3, 4, 1, 0xAA, 0, 3, 1, 2, 3, 0, 0];
        pair.Client.ProcessCryptoData(TlsEncryptionLevel.Application, nst.AsSpan(0, 7));
        pair.Client.ProcessCryptoData(TlsEncryptionLevel.Application, nst.AsSpan(7));
        Assert.False(pair.Client.TryGetOutput(out _));
        byte[] keyUpdate = [24, 0, 0, 1, 0];
        var e = Assert.Throws<CryptoException>(() => pair.Client.ProcessCryptoData(TlsEncryptionLevel.Application, keyUpdate));
        Assert.Equal(TlsAlert.UnexpectedMessage, e.Alert);
        var e2 = Assert.Throws<CryptoException>(() => pair.Server.ProcessCryptoData(TlsEncryptionLevel.Application, keyUpdate));
        Assert.Equal(TlsAlert.UnexpectedMessage, e2.Alert);
    }

    [Fact]
    public void Oversized_message_is_refused_before_buffering()
    {
        var server = QuicTls.Create(TlsPair.ServerOptions());
        var e = Assert.Throws<CryptoException>(() => server.ProcessCryptoData(TlsEncryptionLevel.Initial, new byte[] { 1, 0x01, 0x00, 0x01 }));
        Assert.Equal(CryptoError.LimitExceeded, e.Error);
    }

    [Fact]
    public void Data_at_the_wrong_level_is_unexpected_message()
    {
        var server = QuicTls.Create(TlsPair.ServerOptions());
        var e = Assert.Throws<CryptoException>(() => server.ProcessCryptoData(TlsEncryptionLevel.Handshake, new byte[] { 1, 0, 0 }));
        Assert.Equal(TlsAlert.UnexpectedMessage, e.Alert);
    }

    [Fact]
    public void Quic_key_update_helper_matches_hkdf_expand_label()
    {
        byte[] secret = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var next = QuicTls.NextKeyUpdateSecret(Tls13CipherSuite.Aes128GcmSha256, secret);
        Assert.Equal(HkdfLabel.ExpandLabel(HashAlgorithmName.SHA256, secret, "quic ku", [], 32), next);
        Assert.Equal(48, QuicTls.NextKeyUpdateSecret(Tls13CipherSuite.Aes256GcmSha384, new byte[48]).Length);
        // RFC 9001 Appendix A.5 (ChaCha20): secret 9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b
        // → ku = 1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9
        var ku = QuicTls.NextKeyUpdateSecret(Tls13CipherSuite.ChaCha20Poly1305Sha256,
            Convert.FromHexString("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b"));
        Assert.Equal("1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9", Convert.ToHexStringLower(ku));
    }
}
