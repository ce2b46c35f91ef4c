using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace OspBridge.Osp.SchemaGen
{
    /// <summary>
    /// Incremental source generator: every AdditionalFiles item ending in <c>.cddl</c> is parsed as the OSP
    /// message schema and turned into C# message classes, enums and the type-key registry.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class SchemaGenerator : IIncrementalGenerator
    {
        private static readonly DiagnosticDescriptor SchemaError = new DiagnosticDescriptor(
            id: "OSPGEN001",
            title: "Invalid OSP message schema",
            messageFormat: "{0}",
            category: "OspBridge.SchemaGen",
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        /// <inheritdoc/>
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            IncrementalValuesProvider<Output> outputs = context.AdditionalTextsProvider
                .Where(static file => file.Path.EndsWith(".cddl", System.StringComparison.OrdinalIgnoreCase))
                .Select(static (file, cancellationToken) => Generate(file.Path, file.GetText(cancellationToken)?.ToString() ?? ""));

            context.RegisterSourceOutput(outputs, static (spc, output) =>
            {
                foreach (CddlError error in output.Errors)
                {
                    var position = new LinePosition(error.Line, error.Column);
                    Location location = Location.Create(output.Path, new TextSpan(0, 0), new LinePositionSpan(position, position));
                    spc.ReportDiagnostic(Diagnostic.Create(SchemaError, location, error.Message));
                }

                if (output.Errors.Length > 0)
                {
                    return;
                }

                foreach (KeyValuePair<string, string> source in output.Sources)
                {
                    spc.AddSource(source.Key, SourceText.From(source.Value, Encoding.UTF8));
                }
            });
        }

        /// <summary>Parses and emits; pure function of the schema text (exposed for tests and tools).</summary>
        internal static Output Generate(string path, string text)
        {
            var errors = new List<CddlError>();
            List<CddlRule> rules = CddlParser.Parse(text, errors);
            var sources = new List<KeyValuePair<string, string>>();
            if (errors.Count == 0)
            {
                SchemaModel model = SchemaModel.Build(rules, errors);
                if (errors.Count == 0)
                {
                    sources.AddRange(CSharpEmitter.Emit(model));
                }
            }

            return new Output(path, errors.ToImmutableArray(), sources.ToImmutableArray());
        }

        internal sealed class Output : System.IEquatable<Output>
        {
            public Output(string path, ImmutableArray<CddlError> errors, ImmutableArray<KeyValuePair<string, string>> sources)
            {
                Path = path;
                Errors = errors;
                Sources = sources;
            }

            public string Path { get; }

            public ImmutableArray<CddlError> Errors { get; }

            public ImmutableArray<KeyValuePair<string, string>> Sources { get; }

            public bool Equals(Output? other) =>
                other != null && other.Path == Path && other.Errors.Length == Errors.Length &&
                other.Sources.Length == Sources.Length &&
                other.Sources.Zip(Sources, (a, b) => a.Key == b.Key && a.Value == b.Value).All(x => x) &&
                other.Errors.Zip(Errors, (a, b) => a.Message == b.Message && a.Line == b.Line).All(x => x);

            public override bool Equals(object? obj) => Equals(obj as Output);

            public override int GetHashCode() => Path.GetHashCode() ^ Sources.Length;
        }
    }
}
