using System.Security.Cryptography;
using OspBridge.Crypto.Dtls.Messages;

namespace OspBridge.Crypto.Dtls;

public sealed partial class DtlsEndpoint
{
    private const int CookieLength = 20;
    private bool _clientSentCertificate;

    /// <summary>The SignatureScheme the peer signed with (server: CertificateVerify; client: ServerKeyExchange).</summary>
    internal ushort PeerSignatureScheme { get; private set; }

    private void ServerHandle(byte type, ushort seq, byte[] body, TimeSpan now)
    {
        switch (_hs)
        {
            case Hs.ServerWaitClientHello when type == TlsHandshakeType.ClientHello:
                ServerOnClientHello(seq, body, now);
                return;
            case Hs.ServerWaitCertificate when type == TlsHandshakeType.Certificate:
            {
                var chain = CertificateMessage.Parse(body);
                if (chain.Count == 0)
                {
                    if (_opt.RequireClientCertificate)
                        throw new CryptoException(CryptoError.BadCertificate, "DTLS: client sent no certificate", TlsAlert.HandshakeFailure);
                }
                else
                {
                    PeerCertificate = AcceptPeerCertificate(chain);
                    _clientSentCertificate = true;
                }
                AddToTranscript(type, seq, body);
                _hs = Hs.ServerWaitKeyExchange;
                return;
            }
            case Hs.ServerWaitKeyExchange when type == TlsHandshakeType.ClientKeyExchange:
            {
                var pms = ComputePreMasterSecret(ClientKeyExchange.Parse(body));
                AddToTranscript(type, seq, body);
                DeriveMasterSecret(pms);
                DeriveTrafficKeys(); // epoch-1 records that overtook this message can now be opened
                _hs = _clientSentCertificate ? Hs.ServerWaitCertificateVerify : Hs.ServerWaitFinished;
                return;
            }
            case Hs.ServerWaitCertificateVerify when type == TlsHandshakeType.CertificateVerify:
            {
                var (scheme, sig) = CertificateVerify.Parse(body);
                if (!Contains(SignatureScheme.Tls12Verifiable, scheme) || !VerifySignature(PeerCertificate!, scheme, _transcript.Written, sig))
                    throw new CryptoException(CryptoError.DecryptError, "DTLS: client CertificateVerify does not verify", TlsAlert.DecryptError);
                AddToTranscript(type, seq, body);
                PeerSignatureScheme = scheme;
                _hs = Hs.ServerWaitFinished;
                return;
            }
            case Hs.ServerWaitFinished when type == TlsHandshakeType.Finished:
                CheckFinished(body, fromClient: true);
                AddToTranscript(type, seq, body);
                BeginFlight();
                QueueChangeCipherSpec();
                QueueHandshake(TlsHandshakeType.Finished, FinishedVerifyData(fromClient: false), epoch: 1);
                _hs = Hs.Done;
                State = DtlsState.Connected;
                SendFlight(now, armTimer: false); // kept for retransmission when the client repeats its flight
                _ecdh?.Dispose();
                _ecdh = null;
                return;
            default:
                throw Unexpected($"handshake message {type} in state {_hs}");
        }
    }

    private byte[] ComputeCookie(ClientHello ch)
    {
        // Stateless cookie (RFC 6347 §4.2.1): HMAC over the ClientHello fields that must not change between the two
        // ClientHellos. The transport address is bound by the layer below (ICE) in WebRTC, so it is not an input here.
        var w = new TlsWriter(256);
        w.WriteU16(ch.Version);
        w.WriteBytes(ch.Random);
        w.WriteVector8(ch.SessionId);
        foreach (var s in ch.CipherSuites) w.WriteU16(s);
        var mac = HMACSHA256.HashData(_cookieSecret, w.Written);
        return mac.AsSpan(0, CookieLength).ToArray();
    }

    private void ServerOnClientHello(ushort seq, byte[] body, TimeSpan now)
    {
        var ch = ClientHello.Parse(body);
        // DTLS versions count down: FEFF (1.0) is older than FEFD (1.2). A DTLS 1.3 client still says FEFD here.
        if (ch.Version > TlsVersion.Dtls12)
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: client offers only version {ch.Version:X4}", TlsAlert.ProtocolVersion);
        if (_opt.UseHelloVerifyRequest)
        {
            var cookie = ComputeCookie(ch);
            if (ch.Cookie.Length != cookie.Length || !CryptographicOperations.FixedTimeEquals(ch.Cookie, cookie))
            {
                // Stateless (RFC 6347 §4.2.1): nothing is remembered, the HelloVerifyRequest takes the ClientHello's
                // message_seq and the record sequence number of the record that completed the ClientHello.
                var hvr = new HelloVerifyRequest { Cookie = cookie }.Serialize();
                var dg = new byte[DtlsRecordHeader.Size + DtlsHandshakeHeader.Size + hvr.Length];
                new DtlsRecordHeader(TlsContentType.Handshake, TlsVersion.Dtls12, 0, _currentRecordSeq, (ushort)(DtlsHandshakeHeader.Size + hvr.Length)).Write(dg);
                new DtlsHandshakeHeader(TlsHandshakeType.HelloVerifyRequest, hvr.Length, seq, 0, hvr.Length).Write(dg.AsSpan(DtlsRecordHeader.Size));
                hvr.CopyTo(dg, DtlsRecordHeader.Size + DtlsHandshakeHeader.Size);
                _out.Enqueue(dg);
                return;
            }
        }

        // cipher suite: our preference order among the client's offers
        ushort suite = 0;
        foreach (var s in _opt.CipherSuites)
            if (ch.CipherSuites.Contains((ushort)s)) { suite = (ushort)s; break; }
        if (suite == 0)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: no common cipher suite", TlsAlert.HandshakeFailure);
        if (Array.IndexOf(ch.CompressionMethods, (byte)0) < 0)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: client does not offer null compression", TlsAlert.IllegalParameter);

        bool ems = false, reneg = ch.CipherSuites.Contains(0x00FF), pointFormats = false;
        SrtpProtectionProfile? srtp = null;
        foreach (var (t, data) in ch.Extensions)
        {
            switch (t)
            {
                case TlsExtensionType.ExtendedMasterSecret:
                    ems = true;
                    break;
                case TlsExtensionType.RenegotiationInfo:
                    if (data.Length != 1 || data[0] != 0)
                        throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: non-empty renegotiation_info", TlsAlert.HandshakeFailure);
                    reneg = true;
                    break;
                case TlsExtensionType.SupportedGroups:
                    // Browsers list X25519 / X25519MLKEM768 first; the BCL gives us P-256, which they all offer too.
                    if (!TlsExtensions.ReadU16List(data, 2, 2).Contains(NamedGroup.Secp256r1))
                        throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: client does not offer P-256", TlsAlert.HandshakeFailure);
                    break;
                case TlsExtensionType.EcPointFormats:
                    TlsExtensions.RequireUncompressedPointFormat(data, "client");
                    pointFormats = true;
                    break;
                case TlsExtensionType.SignatureAlgorithms:
                    if (!TlsExtensions.ReadU16List(data, 2, 2).Contains(SignatureScheme.EcdsaSecp256r1Sha256))
                        throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: client does not accept ecdsa_secp256r1_sha256", TlsAlert.HandshakeFailure);
                    break;
                case TlsExtensionType.UseSrtp:
                {
                    var (offered, _) = UseSrtpExtension.Parse(data);
                    foreach (var p in _opt.SrtpProfiles)
                        if (offered.Contains((ushort)p)) { srtp = p; break; }
                    break;
                }
                default:
                    break; // supported_versions, key_share, SNI, ...: ignored, we answer as DTLS 1.2
            }
        }
        if (!ems)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: client does not offer extended master secret (RFC 7627)", TlsAlert.HandshakeFailure);

        _clientRandom = ch.Random;
        _opt.Random.GetBytes(_serverRandom);
        SetCipherSuite(suite);
        SelectedSrtpProfile = srtp;
        AddToTranscript(TlsHandshakeType.ClientHello, seq, body);
        _sendSeq = seq; // our first message takes the client's message_seq (RFC 6347 §4.2.2, as OpenSSL does)

        var sh = new ServerHello { Random = _serverRandom, CipherSuite = suite };
        if (reneg) sh.Extensions.Add((TlsExtensionType.RenegotiationInfo, [0]));
        sh.Extensions.Add((TlsExtensionType.ExtendedMasterSecret, []));
        if (pointFormats) sh.Extensions.Add((TlsExtensionType.EcPointFormats, [1, 0]));
        if (srtp is { } chosen) sh.Extensions.Add((TlsExtensionType.UseSrtp, UseSrtpExtension.Serialize([(ushort)chosen])));

        _ecdh = Tls.EphemeralKeys.CreateP256(_opt.Random);
        var ske = new ServerKeyExchange { Group = NamedGroup.Secp256r1, PublicKey = EncodePoint(_ecdh), SignatureScheme = SignatureScheme.EcdsaSecp256r1Sha256 };
        var signed = new byte[64 + 4 + 65];
        _clientRandom.CopyTo(signed, 0);
        _serverRandom.CopyTo(signed, 32);
        ske.ParamsBytes().CopyTo(signed, 64);
        ske.Signature = Sign(signed);

        BeginFlight();
        QueueHandshake(TlsHandshakeType.ServerHello, sh.Serialize());
        QueueHandshake(TlsHandshakeType.Certificate, CertificateMessage.Serialize([_opt.Certificate!.RawData]));
        QueueHandshake(TlsHandshakeType.ServerKeyExchange, ske.Serialize());
        QueueHandshake(TlsHandshakeType.CertificateRequest, new DtlsCertificateRequest { SignatureSchemes = [.. SignatureScheme.Tls12Verifiable] }.Serialize());
        QueueHandshake(TlsHandshakeType.ServerHelloDone, []);
        _hs = Hs.ServerWaitCertificate;
        SendFlight(now, armTimer: true);
    }
}
