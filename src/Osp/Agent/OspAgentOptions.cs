using OspBridge.Crypto.Identity;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Agent;

/// <summary>What a local OSP agent presents to its peers.</summary>
public sealed class OspAgentOptions
{
    /// <summary>ALPN of the Open Screen Protocol (IANA registration pending, OSP issue #228).</summary>
    public const string Alpn = "osp";

    /// <summary>The agent's identity: certificate (mutual TLS), fingerprint and hostname.</summary>
    public required AgentIdentity Identity { get; init; }

    /// <summary>agent-info <c>display-name</c>.</summary>
    public required string DisplayName { get; init; }

    /// <summary>agent-info <c>model-name</c> (default: the identity's model name, the certificate issuer CN).</summary>
    public string? ModelName { get; init; }

    /// <summary>Capabilities announced in agent-info.</summary>
    public IReadOnlyList<AgentCapability> Capabilities { get; init; } = [AgentCapability.LanSignaling];

    /// <summary>agent-info <c>locales</c>.</summary>
    public IReadOnlyList<string> Locales { get; init; } = ["en"];

    /// <summary>QUIC idle timeout. OSP agents keep connections alive with agent-status-request at 25 s.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest message body accepted on a stream.</summary>
    public int MaxMessageSize { get; init; } = 256 * 1024;

    /// <summary>Messages buffered for the application before the connection applies back-pressure.</summary>
    public int ReceiveQueueLimit { get; init; } = 1024;

    /// <summary>
    /// When true, a connection processes only agent-info (request, response, event) and auth-* messages until it
    /// is authenticated; any other message closes it with <see cref="OspConnection.NotAuthenticatedErrorCode"/>
    /// (OSP network spec: "before authentication only agent-info and auth-* messages are processed").
    /// Off by default because PIN authentication (SPAKE2) is not implemented yet: with it on, nothing can
    /// authenticate a connection today, so applications would only ever see agent-info.
    /// </summary>
    public bool RequireAuthentication { get; init; }

    internal AgentInfo BuildAgentInfo(string stateToken) => new()
    {
        DisplayName = DisplayName,
        ModelName = ModelName ?? Identity.ModelName,
        Capabilities = Capabilities,
        StateToken = stateToken,
        Locales = Locales,
    };
}
