using System.Security.Cryptography;
using OspBridge.Crypto.Dtls.Messages;

namespace OspBridge.Crypto.Dtls;

public sealed partial class DtlsEndpoint
{
    private ClientHello? _clientHello;
    private int _helloVerifyCount;
    private bool _certificateRequested;
    private byte[]? _serverPoint;

    private void ClientStart(TimeSpan now)
    {
        _opt.Random.GetBytes(_clientRandom);
        var ch = new ClientHello { Random = _clientRandom };
        foreach (var s in _opt.CipherSuites) ch.CipherSuites.Add((ushort)s);
        ch.Extensions.Add((TlsExtensionType.ExtendedMasterSecret, []));
        ch.Extensions.Add((TlsExtensionType.RenegotiationInfo, [0]));
        ch.Extensions.Add((TlsExtensionType.SupportedGroups, TlsExtensions.U16List(_opt.OfferedGroups ?? [NamedGroup.Secp256r1])));
        ch.Extensions.Add((TlsExtensionType.EcPointFormats, [1, 0]));
        ch.Extensions.Add((TlsExtensionType.SignatureAlgorithms, TlsExtensions.U16List(SignatureScheme.Tls12Verifiable)));
        if (_opt.SrtpProfiles.Count > 0)
            ch.Extensions.Add((TlsExtensionType.UseSrtp, UseSrtpExtension.Serialize(_opt.SrtpProfiles.Select(p => (ushort)p))));
        ch.Extensions.AddRange(_opt.ExtraClientHelloExtensions);
        _clientHello = ch;
        _hs = Hs.ClientWaitHello;
        BeginFlight();
        QueueHandshake(TlsHandshakeType.ClientHello, ch.Serialize());
        SendFlight(now, armTimer: true);
    }

    private void ClientHandle(byte type, ushort seq, byte[] body, TimeSpan now)
    {
        switch (_hs)
        {
            case Hs.ClientWaitHello when type == TlsHandshakeType.HelloVerifyRequest:
            {
                var hvr = HelloVerifyRequest.Parse(body);
                if (++_helloVerifyCount > 3)
                    throw Unexpected("HelloVerifyRequest (too many)");
                // RFC 6347 §4.2.1: the first ClientHello and the HelloVerifyRequest stay out of the transcript.
                _transcript = new TlsWriter(4096);
                _clientHello!.Cookie = hvr.Cookie;
                BeginFlight();
                QueueHandshake(TlsHandshakeType.ClientHello, _clientHello.Serialize());
                SendFlight(now, armTimer: true);
                return;
            }
            case Hs.ClientWaitHello when type == TlsHandshakeType.ServerHello:
                ClientOnServerHello(body);
                AddToTranscript(type, seq, body);
                _hs = Hs.ClientWaitCertificate;
                return;
            case Hs.ClientWaitCertificate when type == TlsHandshakeType.Certificate:
                PeerCertificate = AcceptPeerCertificate(CertificateMessage.Parse(body));
                AddToTranscript(type, seq, body);
                _hs = Hs.ClientWaitKeyExchange;
                return;
            case Hs.ClientWaitKeyExchange when type == TlsHandshakeType.ServerKeyExchange:
                ClientOnServerKeyExchange(body);
                AddToTranscript(type, seq, body);
                _hs = Hs.ClientWaitCertRequestOrDone;
                return;
            case Hs.ClientWaitCertRequestOrDone when type == TlsHandshakeType.CertificateRequest:
            {
                var cr = DtlsCertificateRequest.Parse(body);
                if (Array.IndexOf(cr.CertificateTypes, DtlsCertificateRequest.EcdsaSign) < 0)
                    throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: CertificateRequest does not allow ecdsa_sign", TlsAlert.HandshakeFailure);
                _certificateRequested = true;
                AddToTranscript(type, seq, body);
                _hs = Hs.ClientWaitHelloDone;
                return;
            }
            case Hs.ClientWaitCertRequestOrDone or Hs.ClientWaitHelloDone when type == TlsHandshakeType.ServerHelloDone:
                if (body.Length != 0) throw TlsReader.Fail("ServerHelloDone");
                AddToTranscript(type, seq, body);
                ClientSendFinishedFlight(now);
                return;
            case Hs.ClientWaitFinished when type == TlsHandshakeType.Finished:
                CheckFinished(body, fromClient: false);
                AddToTranscript(type, seq, body);
                _hs = Hs.Done;
                State = DtlsState.Connected;
                _retransmitAt = null;
                _flight.Clear();
                _ecdh?.Dispose();
                _ecdh = null;
                return;
            default:
                throw Unexpected($"handshake message {type} in state {_hs}");
        }
    }

    private void ClientOnServerHello(byte[] body)
    {
        var sh = ServerHello.Parse(body);
        if (sh.Version != TlsVersion.Dtls12)
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: server chose version {sh.Version:X4}", TlsAlert.ProtocolVersion);
        if (!_clientHello!.CipherSuites.Contains(sh.CipherSuite))
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: server chose cipher suite {sh.CipherSuite:X4} that was not offered", TlsAlert.IllegalParameter);
        if (sh.CompressionMethod != 0)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: server chose compression", TlsAlert.IllegalParameter);
        bool ems = false;
        foreach (var (t, data) in sh.Extensions)
        {
            switch (t)
            {
                case TlsExtensionType.ExtendedMasterSecret:
                    if (data.Length != 0) throw TlsReader.Fail("extended_master_secret");
                    ems = true;
                    break;
                case TlsExtensionType.RenegotiationInfo:
                    if (data.Length != 1 || data[0] != 0)
                        throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: non-empty renegotiation_info", TlsAlert.HandshakeFailure);
                    break;
                case TlsExtensionType.EcPointFormats:
                    TlsExtensions.RequireUncompressedPointFormat(data, "server");
                    break;
                case TlsExtensionType.UseSrtp:
                {
                    var (profiles, _) = UseSrtpExtension.Parse(data);
                    if (profiles.Count != 1 || !_opt.SrtpProfiles.Contains((SrtpProtectionProfile)profiles[0]))
                        throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: server chose an SRTP profile that was not offered", TlsAlert.IllegalParameter);
                    SelectedSrtpProfile = (SrtpProtectionProfile)profiles[0];
                    break;
                }
                default:
                    throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: server sent unsolicited extension {t}", TlsAlert.UnsupportedExtension);
            }
        }
        if (!ems)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: server does not support extended master secret (RFC 7627)", TlsAlert.HandshakeFailure);
        _serverRandom = sh.Random;
        SetCipherSuite(sh.CipherSuite);
    }

    private void ClientOnServerKeyExchange(byte[] body)
    {
        var ske = ServerKeyExchange.Parse(body);
        if (ske.Group != NamedGroup.Secp256r1)
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: server chose group {ske.Group:X4}", TlsAlert.IllegalParameter);
        if (!Contains(SignatureScheme.Tls12Verifiable, ske.SignatureScheme))
            throw new CryptoException(CryptoError.HandshakeFailure, $"DTLS: server used signature scheme {ske.SignatureScheme:X4}", TlsAlert.IllegalParameter);
        var signed = new byte[64 + 4 + ske.PublicKey.Length];
        _clientRandom.CopyTo(signed, 0);
        _serverRandom.CopyTo(signed, 32);
        ske.ParamsBytes().CopyTo(signed, 64);
        if (!VerifySignature(PeerCertificate!, ske.SignatureScheme, signed, ske.Signature))
            throw new CryptoException(CryptoError.DecryptError, "DTLS: ServerKeyExchange signature does not verify", TlsAlert.DecryptError);
        _serverPoint = ske.PublicKey;
        PeerSignatureScheme = ske.SignatureScheme;
    }

    /// <summary>Flight 5: [Certificate] ClientKeyExchange [CertificateVerify] ChangeCipherSpec Finished.</summary>
    private void ClientSendFinishedFlight(TimeSpan now)
    {
        BeginFlight();
        bool sendCert = _certificateRequested;
        if (sendCert) QueueHandshake(TlsHandshakeType.Certificate, CertificateMessage.Serialize([_opt.Certificate!.RawData]));
        _ecdh = Tls.EphemeralKeys.CreateP256(_opt.Random);
        var pms = ComputePreMasterSecret(_serverPoint!);
        QueueHandshake(TlsHandshakeType.ClientKeyExchange, ClientKeyExchange.Serialize(EncodePoint(_ecdh)));
        DeriveMasterSecret(pms); // session hash covers everything through ClientKeyExchange
        if (sendCert)
        {
            var sig = Sign(_transcript.Written);
            QueueHandshake(TlsHandshakeType.CertificateVerify, CertificateVerify.Serialize(SignatureScheme.EcdsaSecp256r1Sha256, sig));
        }
        DeriveTrafficKeys();
        QueueChangeCipherSpec();
        QueueHandshake(TlsHandshakeType.Finished, FinishedVerifyData(fromClient: true), epoch: 1);
        _hs = Hs.ClientWaitFinished;
        SendFlight(now, armTimer: true);
    }
}
