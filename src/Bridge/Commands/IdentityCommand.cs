using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Commands;

/// <summary><c>ospbridge identity [--name &lt;instance name&gt;] [--json]</c>: shows (creating on first use) the agent identity.</summary>
internal sealed class IdentityCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var name = new Option<string?>("--name") { Description = "DNS-SD instance name (default: the stored one, or the machine name)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var command = new Command("identity", "Show this agent's fingerprint, hostname, serial and certificate expiry (created on first use)")
        {
            name, json,
        };
        command.SetAction((parseResult, _) =>
        {
            var dir = context.GetStateDirectory(parseResult);
            string? instance = parseResult.GetValue(name);
            if (instance is not null) CliErrors.RequireNonEmpty("--name", instance);
            using var id = AgentIdentity.LoadOrCreate(dir, instance);
            if (parseResult.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["fingerprint"] = id.Fingerprint,
                    ["hostname"] = id.Hostname,
                    ["instanceName"] = id.InstanceName,
                    ["serial"] = id.SerialBase64Url,
                    ["notAfter"] = id.NotAfter.ToString("O", CultureInfo.InvariantCulture),
                    ["stateDir"] = dir,
                }));
            }
            else
            {
                Console.Out.WriteLine($"fingerprint  {id.Fingerprint}");
                Console.Out.WriteLine($"hostname     {id.Hostname}");
                Console.Out.WriteLine($"instance     {id.InstanceName}");
                Console.Out.WriteLine($"serial (sn)  {id.SerialBase64Url}");
                Console.Out.WriteLine($"model        {id.ModelName}");
                Console.Out.WriteLine($"expires      {id.NotAfter.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)}");
                Console.Out.WriteLine($"state dir    {dir}");
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
